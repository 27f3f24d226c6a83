import type { ExecResult, OutputStream } from './connection.js'

const MAX_KEPT = 1024 * 1024

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
    const text = this.partial[stream] + chunk.toString()
    const lines = text.split('\n')
    this.partial[stream] = lines.pop() ?? ''
    for (const line of lines) this.emit(stream, line + '\n')
  }

  result(code: number): ExecResult {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream]) this.emit(stream, this.partial[stream])
      this.partial[stream] = ''
    }
    return { code, stdout: this.kept.stdout, stderr: this.kept.stderr }
  }

  /** The last line written to stderr, for error messages. */
  lastError(): string {
    const lines = (this.kept.stderr + this.partial.stderr).trim().split('\n')
    return redact(lines[lines.length - 1] ?? '', this.secrets).slice(0, 300)
  }

  private emit(stream: OutputStream, text: string): void {
    const clean = redact(text, this.secrets)
    this.onLine?.(stream, clean.replace(/\r?\n$/, ''))
    const kept = this.kept[stream] + clean
    this.kept[stream] = kept.length > MAX_KEPT ? kept.slice(kept.length - MAX_KEPT) : kept
  }
}
