import type { ExecResult, OutputStream } from './connection.js'

const MAX_KEPT = 1024 * 1024
const MAX_LINE = 64 * 1024

/** Replaces every secret in a text with `***` (the sudo password must never reach a log or error). */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text
  for (const secret of secrets) if (secret) result = result.split(secret).join('***')
  return result
}

/**
 * Splits a command's output into lines for `onLine` as it arrives and keeps the last 1 MiB of each
 * stream for the result, with secrets redacted in both.
 */
export class OutputCollector {
  private readonly kept: Record<OutputStream, string> = { stdout: '', stderr: '' }
  private readonly partial: Record<OutputStream, string> = { stdout: '', stderr: '' }

  constructor(
    private readonly secrets: readonly string[],
    private readonly onLine?: (stream: OutputStream, line: string) => void,
  ) {}

  push(stream: OutputStream, chunk: Buffer | string): void {
    const text = chunk.toString()
    const lastNewline = text.lastIndexOf('\n')
    if (lastNewline < 0) {
      this.partial[stream] += text
      // A very long line (or binary output) is passed on in pieces instead of growing without bound.
      if (this.partial[stream].length > MAX_LINE) this.flushPartial(stream)
      return
    }
    const complete = this.partial[stream] + text.slice(0, lastNewline)
    this.partial[stream] = text.slice(lastNewline + 1)
    for (const line of complete.split('\n')) this.emit(stream, line + '\n')
  }

  private flushPartial(stream: OutputStream): void {
    if (this.partial[stream]) this.emit(stream, this.partial[stream])
    this.partial[stream] = ''
  }

  result(code: number): ExecResult {
    for (const stream of ['stdout', 'stderr'] as const) this.flushPartial(stream)
    return { code, stdout: this.tail('stdout'), stderr: this.tail('stderr') }
  }

  /** The last line written to stderr, for error messages. */
  lastError(): string {
    const lines = (this.kept.stderr + this.partial.stderr).trim().split('\n')
    return redact(lines[lines.length - 1] ?? '', this.secrets).slice(0, 300)
  }

  private emit(stream: OutputStream, text: string): void {
    const clean = redact(text, this.secrets)
    this.onLine?.(stream, clean.replace(/\r?\n$/, ''))
    this.kept[stream] += clean
    // Trimmed only when twice over the cap, so a long output costs linear time.
    if (this.kept[stream].length > 2 * MAX_KEPT) this.kept[stream] = this.tail(stream)
  }

  private tail(stream: OutputStream): string {
    const kept = this.kept[stream]
    return kept.length > MAX_KEPT ? kept.slice(kept.length - MAX_KEPT) : kept
  }
}
