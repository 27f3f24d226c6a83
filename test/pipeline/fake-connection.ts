import type { Connection, ExecOptions, ExecResult, TransferResult } from '../../src/nodes/connection.js'
import type { Command } from '../../src/nodes/quote.js'

/**
 * Test double standing in for a node's Connection in runner unit tests (the real SSH and local
 * connections are tested against test nodes in test/nodes). It records commands and answers with
 * a scripted handler.
 */
export class FakeConnection implements Connection {
  readonly commands: string[] = []
  closed = false

  constructor(
    readonly host: string,
    private readonly handler: (command: string, host: string) => Promise<Partial<ExecResult> & { lines?: string[] }> | Partial<ExecResult> & { lines?: string[] } = () => ({}),
  ) {}

  async exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    this.commands.push(command.text)
    const answer = await this.handler(command.text, this.host)
    for (const line of answer.lines ?? []) options.onLine?.('stdout', line)
    return { code: answer.code ?? 0, stdout: answer.stdout ?? (answer.lines ?? []).join('\n'), stderr: answer.stderr ?? '' }
  }

  async upload(): Promise<TransferResult> {
    return { changed: true, bytes: 1 }
  }

  async download(): Promise<TransferResult> {
    return { changed: true, bytes: 1 }
  }

  async close(): Promise<void> {
    this.closed = true
  }
}
