/**
 * Connection to the runner itself (`nodes: ephemeral`): the same commands and the same upload script
 * as over SSH, run by child processes; sudo when the runner is not root.
 */
import { spawn } from 'node:child_process'
import { createReadStream, createWriteStream } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { UserError } from '../errors.js'
import { cancelledMessage } from './killable.js'
import type { Connection, ExecOptions, ExecResult, TransferResult, UploadOptions } from './connection.js'
import { OutputCollector, redact } from './output.js'
import type { Command } from './quote.js'
import type { Log } from './ssh.js'
import { SUDO_PROBE, sudoFailure, sudoPreamble, withSudo, type SudoMode } from './sudo.js'
import { DEFAULT_MODE, SAME, catCommand, parseSha256, prepareCommand, sha256Command, sha256File, storeCommand } from './transfer.js'

export interface LocalOptions {
  sudoPassword?: string
  defaultTimeoutMs?: number
  log?: Log
}

export class LocalConnection implements Connection {
  private sudoMode?: Promise<SudoMode>

  constructor(readonly host: string, private readonly options: LocalOptions = {}) {}

  async exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const mode = options.sudo ? await this.sudo() : 'none'
    return this.run(command, mode, options)
  }

  private run(command: Command, mode: SudoMode, options: ExecOptions, feed?: (stdin: Writable) => Promise<void>, stdoutTo?: Writable): Promise<ExecResult> {
    const text = withSudo(command, mode).text
    const secrets = this.options.sudoPassword ? [this.options.sudoPassword] : []
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs ?? 30 * 60_000
    const { signal } = options
    const label = () => redact(text, secrets).replace(/\s+/g, ' ').slice(0, 120)
    if (signal?.aborted) return Promise.reject(new UserError(cancelledMessage(signal.reason, label()), { host: this.host }))
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', text], { stdio: ['pipe', 'pipe', 'pipe'], detached: true })
      // detached: the child leads a process group of its own, which a cancel stops as a whole.
      let cancelled = false
      const onAbort = () => {
        cancelled = true
        this.stopGroup(child.pid, mode)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      const output = new OutputCollector(secrets, options.onLine)
      if (stdoutTo) child.stdout.pipe(stdoutTo, { end: false })
      else child.stdout.on('data', (chunk: Buffer) => output.push('stdout', chunk))
      child.stderr.on('data', (chunk: Buffer) => output.push('stderr', chunk))
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        // The whole process group: sh and whatever it started.
        if (child.pid) process.kill(-child.pid, 'SIGKILL')
      }, timeoutMs)
      child.on('error', (error) => {
        clearTimeout(timer)
        reject(new UserError(`cannot run a local command: ${error.message}`, { host: this.host }))
      })
      child.on('close', (code, exitSignal) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (cancelled) return reject(new UserError(cancelledMessage(signal?.reason, label()), { host: this.host }))
        if (timedOut) return reject(new UserError(`command timed out after ${Math.round(timeoutMs / 1000)} s: ${label()}`, { host: this.host }))
        const result = output.result(code ?? (exitSignal ? 128 + 9 : 255))
        const sudoProblem = mode !== 'none' && result.code !== 0 ? sudoFailure(result.stderr, 'of the runner') : undefined
        if (sudoProblem) return reject(new UserError(sudoProblem, { host: this.host }))
        resolve(result)
      })
      child.stdin.on('error', () => undefined)
      const preamble = sudoPreamble(mode, this.options.sudoPassword)
      if (preamble) child.stdin.write(preamble)
      if (feed) feed(child.stdin).catch(() => child.stdin.destroy())
      else child.stdin.end(options.stdin ?? '')
    })
  }

  /** TERM to the command's process group, KILL 5 s later; also through sudo when the command runs under it. */
  private stopGroup(pid: number | undefined, mode: SudoMode): void {
    if (!pid) return
    const send = (name: NodeJS.Signals) => {
      try {
        process.kill(-pid, name)
      } catch {
        // gone already, or only root's processes are left in it
      }
      // The group's processes under sudo run as root: only root can signal them.
      if (mode !== 'none') spawn('sudo', ['-n', 'kill', `-${name.replace(/^SIG/, '')}`, '--', `-${pid}`], { stdio: 'ignore' }).on('error', () => undefined)
    }
    send('SIGTERM')
    setTimeout(() => send('SIGKILL'), 5_000).unref()
  }

  private sudo(): Promise<SudoMode> {
    if (process.getuid?.() === 0) return Promise.resolve('none')
    this.sudoMode ??= this.run(SUDO_PROBE, 'none', { timeoutMs: 30_000 }).then((probe) => {
      if (probe.code === 0) return 'nopasswd' as const
      if (this.options.sudoPassword) return 'password' as const
      throw new UserError('the runner user needs a password for sudo and none was given', { host: this.host },
        'Run as root, allow NOPASSWD sudo, or pass the ssh-password input')
    })
    this.sudoMode.catch(() => (this.sudoMode = undefined))
    return this.sudoMode
  }

  async upload(localPath: string, remotePath: string, options: UploadOptions = {}): Promise<TransferResult> {
    const size = (await stat(localPath).catch(() => {
      throw new UserError(`cannot upload ${localPath}: no such local file`, { host: this.host })
    })).size
    const sum = options.sha256 ?? (await sha256File(localPath))
    const mode = options.sudo ? await this.sudo() : 'none'
    const keep = options.keepOriginal
    const current = await this.run(keep ? prepareCommand(remotePath, keep) : sha256Command(remotePath), mode, {})
    if (keep && current.code !== 0) throw new UserError(`cannot upload to ${remotePath}: ${current.stderr.trim().split('\n').pop()}`, { host: this.host })
    if (current.code === 0 && parseSha256(current.stdout) === sum) return { changed: false, bytes: 0 }
    const result = await this.run(storeCommand(remotePath, sum, options.mode ?? DEFAULT_MODE, size, keep), mode, {}, (stdin) =>
      pipeline(createReadStream(localPath), stdin),
    )
    if (result.code !== 0) throw new UserError(`copy of ${localPath} to ${remotePath} failed: ${result.stderr.trim().split('\n').pop()}`, { host: this.host })
    if (result.stdout.startsWith(SAME)) return { changed: false, bytes: 0 }
    return { changed: true, bytes: size }
  }

  async download(remotePath: string, localPath: string, options: { sudo?: boolean } = {}): Promise<TransferResult> {
    const mode = options.sudo ? await this.sudo() : 'none'
    const expected = parseSha256((await this.run(sha256Command(remotePath), mode, {})).stdout)
    if (!expected) throw new UserError(`cannot copy ${remotePath}: no such file (or not readable)`, { host: this.host })
    if ((await sha256File(localPath).catch(() => undefined)) === expected) return { changed: false, bytes: 0 }
    const tmp = `${localPath}.kk-download.${randomBytes(4).toString('hex')}`
    try {
      const file = createWriteStream(tmp, { mode: 0o600 })
      const result = await this.run(catCommand(remotePath), mode, {}, undefined, file)
      await new Promise<void>((resolve, reject) => file.end((error?: Error | null) => (error ? reject(error) : resolve())))
      if (result.code !== 0 || (await sha256File(tmp)) !== expected) {
        throw new UserError(`copy of ${remotePath} failed: ${result.stderr.trim() || 'sha256 mismatch'}`, { host: this.host })
      }
      await rename(tmp, localPath)
      return { changed: true, bytes: (await stat(localPath)).size }
    } finally {
      await rm(tmp, { force: true })
    }
  }

  async close(): Promise<void> {}
}
