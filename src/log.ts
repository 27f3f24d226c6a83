/** Where the core reports to: the CLI prints to stderr, the action maps it onto @actions/core. */
export interface Logger {
  info(message: string): void
  notice(message: string): void
  warning(message: string): void
  debug(message: string): void
}

export const silentLogger: Logger = { info() {}, notice() {}, warning() {}, debug() {} }

export function stderrLogger(stream: NodeJS.WritableStream = process.stderr, verbose = false): Logger {
  return {
    info: (message) => stream.write(`${message}\n`),
    notice: (message) => stream.write(`notice: ${message}\n`),
    warning: (message) => stream.write(`warning: ${message}\n`),
    debug: (message) => { if (verbose) stream.write(`debug: ${message}\n`) },
  }
}
