import { UserError } from '../errors.js'

/** A command that exited non-zero on a host. */
export class CommandError extends Error {
  constructor(
    readonly host: string,
    readonly command: string,
    readonly exitCode: number,
    readonly lastLines: string[],
  ) {
    super(`exit code ${exitCode}: ${command}${lastLines.length ? `\n${lastLines.join('\n')}` : ''}`)
    this.name = 'CommandError'
  }
}

export interface HostFailure {
  host: string
  task: string
  message: string
  lastLines: string[]
  /** Not retried (FinalError). */
  final?: boolean
}

/** A failure a retry cannot change (a refused preflight, an unreachable endpoint): the runner does not retry it. */
export class FinalError extends UserError {
  readonly final = true
}

/** A module failed: every failing host, each with its last output lines. */
export class PipelineError extends UserError {
  constructor(
    readonly module: string,
    readonly failures: HostFailure[],
  ) {
    const lines = failures.map((f) => {
      const tail = f.lastLines.length ? `\n    ${f.lastLines.join('\n    ')}` : ''
      return `  ${f.host}: task "${f.task}": ${firstLine(f.message)}${tail}`
    })
    super(
      `module ${module} failed on ${failures.length} host(s):\n${lines.join('\n')}`,
      {},
      'The per-host logs have the whole output',
    )
    this.name = 'PipelineError'
  }
}

export class CancelledError extends UserError {
  constructor(signal: string) {
    super(`deploy cancelled (${signal}); nothing new was started and running tasks were stopped`)
    this.name = 'CancelledError'
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0]
}
