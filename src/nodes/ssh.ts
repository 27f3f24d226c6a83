/**
 * Connection over SSH (ssh2): one TCP connection per host for the whole run, reused by every command
 * and transfer, with at most `maxChannels` channels open at once (below OpenSSH's MaxSessions of 10).
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Client, type ClientChannel, type ConnectConfig, type ServerHostKeyAlgorithm, type SFTPWrapper } from 'ssh2'
import { UserError } from '../errors.js'
import type { Connection, ExecOptions, ExecResult, TransferResult, UploadOptions } from './connection.js'
import { HostKeyVerifier, type HostKeyPolicy } from './hostkeys.js'
import { cancelledMessage, GroupReader, killable, stopCommand } from './killable.js'
import { OutputCollector, redact } from './output.js'
import type { Command } from './quote.js'
import { Semaphore } from './semaphore.js'
import { SUDO_PROBE, sudoFailure, sudoPreamble, withSudo, type SudoMode } from './sudo.js'
import { DEFAULT_MODE, SAME, SEND, catCommand, parseSha256, prepareCommand, sha256Command, sha256File, storeCommand, verifyAndMoveCommand } from './transfer.js'

export type LogLevel = 'debug' | 'info' | 'warn'
export type Log = (level: LogLevel, message: string) => void

/** Where and as whom to log in; a Host or a Bastion from the config reduce to this. */
export interface SshEndpoint {
  /** Name used in every message (the config's host name). */
  name: string
  address: string
  port: number
  user: string
  password?: string
  /** PEM/OpenSSH private key text (already read from a path). */
  privateKey?: string
  /** Where the key came from, for error messages (`privateKeyPath`, `privateKey`, `ssh-private-key`). */
  privateKeySource?: string
}

export interface SshSettings {
  hostKeyPolicy: HostKeyPolicy
  knownHostsPath: string
  connectTimeoutMs?: number
  /** Further attempts after a refused/reset/timed-out connection (never after an auth failure). */
  retries?: number
  retryBaseDelayMs?: number
  keepaliveIntervalMs?: number
  maxChannels?: number
  /** Per-command timeout when the caller sets none. */
  defaultTimeoutMs?: number
  /** How uploads travel: `exec` streams into `cat` (works with sudo), `sftp` uses fastPut. */
  uploadMethod?: 'exec' | 'sftp'
  sftpChunkSize?: number
  sftpConcurrency?: number
  log?: Log
}

const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED'])

/** Opens an authenticated ssh2 client (one attempt), optionally over a tunnel stream. */
export async function openClient(endpoint: SshEndpoint, settings: SshSettings, sock?: Duplex): Promise<Client> {
  const verifier = new HostKeyVerifier({
    host: endpoint.name, address: endpoint.address, port: endpoint.port,
    policy: settings.hostKeyPolicy, knownHostsPath: settings.knownHostsPath,
    log: settings.log && ((level, message) => settings.log?.(level, message)),
  })
  await verifier.load()
  const client = new Client()
  let rejection: UserError | undefined
  const config: ConnectConfig = {
    host: endpoint.address,
    port: endpoint.port,
    username: endpoint.user,
    sock,
    readyTimeout: settings.connectTimeoutMs ?? 15_000,
    keepaliveInterval: settings.keepaliveIntervalMs ?? 5_000,
    keepaliveCountMax: 3,
    tryKeyboard: endpoint.password !== undefined,
    password: endpoint.password,
    privateKey: endpoint.privateKey,
    hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
      verifier.verify(key).then(
        (error) => {
          rejection = error
          verify(error === undefined)
        },
        (error: unknown) => {
          rejection = new UserError(`host key check failed: ${String(error)}`, { host: endpoint.name })
          verify(false)
        },
      )
    },
  }
  const preferred = preferredHostKeyAlgorithms(verifier.preferredKeyTypes())
  if (preferred) config.algorithms = { serverHostKey: preferred as ServerHostKeyAlgorithm[] }
  return new Promise((resolve, reject) => {
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
      finish(prompts.map(() => endpoint.password ?? ''))
    })
    client.once('ready', () => {
      // Without TCP_NODELAY, Nagle and the server's delayed ACKs hold each command's small packets back:
      // an exec took ~92 ms instead of ~6 ms on the test nodes (a bastion's tunnel has no socket: a no-op).
      client.setNoDelay(true)
      client.removeAllListeners('error')
      client.on('error', (error) => settings.log?.('debug', `host ${endpoint.name}: ssh error after connect: ${error.message}`))
      resolve(client)
    })
    client.once('error', (error: Error & { level?: string; code?: string }) => {
      client.destroy()
      reject(rejection ?? classifyConnectError(endpoint, error))
    })
    try {
      client.connect(config)
    } catch (error) {
      reject(new UserError(`cannot use the SSH credentials: ${(error as Error).message}`, { host: endpoint.name, field: endpoint.privateKeySource }))
    }
  })
}

/** ssh2 would take whatever key type the server offers first; prefer the types known_hosts has. */
function preferredHostKeyAlgorithms(knownTypes: string[]): string[] | undefined {
  if (knownTypes.length === 0) return undefined
  const all = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
  const algorithmsOf = (type: string) => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type])
  const first = knownTypes.flatMap(algorithmsOf).filter((a) => all.includes(a))
  return [...first, ...all.filter((a) => !first.includes(a))]
}

/** A failed connect as a user error; `retryable` marks the ones worth another attempt. */
export class ConnectError extends UserError {
  constructor(problem: string, host: string, readonly retryable: boolean, hint?: string) {
    super(problem, { host }, hint)
  }
}

function classifyConnectError(endpoint: SshEndpoint, error: Error & { level?: string; code?: string }): UserError {
  const where = `${endpoint.address}:${endpoint.port}`
  if (error.level === 'client-authentication') {
    const tried = [endpoint.privateKey && 'publickey', endpoint.password !== undefined && 'password, keyboard-interactive'].filter(Boolean).join(', ')
    return new ConnectError(`SSH login as ${endpoint.user} at ${where} was refused (tried: ${tried || 'no credentials given'})`, endpoint.name, false,
      'Check the user, the private key (ssh-private-key input, privateKeyPath or privateKey) or the password in the config')
  }
  if (error.level === 'client-timeout' || /timed out/i.test(error.message)) {
    return new ConnectError(`SSH handshake with ${where} timed out`, endpoint.name, true, 'Check that the address is reachable and sshd is running')
  }
  if (error.code && RETRYABLE_CODES.has(error.code)) {
    return new ConnectError(`cannot connect to ${where}: ${error.code}`, endpoint.name, true, 'Check the address and port, and that sshd is running')
  }
  if (/before handshake|connection lost/i.test(error.message)) {
    return new ConnectError(`connection to ${where} closed during the SSH handshake`, endpoint.name, true)
  }
  if (/privateKey|private key|passphrase|Unsupported key format/i.test(error.message)) {
    return new ConnectError(`cannot use the private key: ${error.message}`, endpoint.name, false)
  }
  return new ConnectError(`SSH connection to ${where} failed: ${error.message}`, endpoint.name, false)
}

/** openClient with retries and exponential backoff for refused, reset and timed-out connections. */
export async function connectWithRetry(endpoint: SshEndpoint, settings: SshSettings, tunnel?: () => Promise<Duplex>): Promise<Client> {
  const retries = settings.retries ?? 4
  const base = settings.retryBaseDelayMs ?? 500
  for (let attempt = 0; ; attempt++) {
    try {
      return await openClient(endpoint, settings, tunnel ? await tunnel() : undefined)
    } catch (error) {
      const retryable = error instanceof ConnectError && error.retryable
      if (!retryable || attempt >= retries) throw error
      const delay = base * 2 ** attempt
      settings.log?.('info', `${(error as Error).message}; retrying in ${delay} ms (${attempt + 1}/${retries})`)
      await sleep(delay)
    }
  }
}

export interface SshConnectionOptions {
  endpoint: SshEndpoint
  settings: SshSettings
  /** Sudo password; the login password by default, as in KubeKey. */
  sudoPassword?: string
  /** Opens the TCP stream through a bastion instead of connecting directly. */
  tunnel?: () => Promise<Duplex>
}

export class SshConnection implements Connection {
  readonly host: string
  private client?: Promise<Client>
  private sudoMode?: Promise<SudoMode>
  private sftpSession?: Promise<SFTPWrapper>
  private readonly channels: Semaphore
  private readonly inFlight = new Set<(error: Error) => void>()
  private closing = false
  private readonly stopping = new Set<Promise<void>>()
  /** How many TCP connections this object opened (for tests and the run log). */
  connectCount = 0

  constructor(private readonly options: SshConnectionOptions) {
    this.host = options.endpoint.name
    this.channels = new Semaphore(options.settings.maxChannels ?? 8)
  }

  private get secrets(): string[] {
    return [this.options.sudoPassword, this.options.endpoint.password].filter((s): s is string => !!s)
  }

  /** Connects now (instead of on first use), so connection problems surface before any work. */
  async connect(): Promise<void> {
    await this.ensureClient()
  }

  private ensureClient(): Promise<Client> {
    if (this.closing) return Promise.reject(new UserError('connection already closed', { host: this.host }))
    if (!this.client) {
      const { endpoint, settings, tunnel } = this.options
      this.connectCount++
      const opening = connectWithRetry(endpoint, settings, tunnel)
      this.client = opening.then((client) => {
        client.on('close', () => this.onClientClosed(client))
        return client
      })
      this.client.catch(() => (this.client = undefined))
    }
    return this.client
  }

  private onClientClosed(client: Client): void {
    void client
    this.client = undefined
    this.sftpSession = undefined
    const lost = new UserError('SSH connection lost', { host: this.host }, 'The host went down or the network dropped')
    for (const fail of this.inFlight) fail(lost)
    this.inFlight.clear()
    if (!this.closing) this.options.settings.log?.('warn', `host ${this.host}: SSH connection lost; the next command reconnects`)
  }

  async exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const mode = options.sudo ? await this.sudo() : 'none'
    return this.run(command, mode, options)
  }

  /** Runs one command on its own channel; stdin is the sudo preamble, then `options.stdin` or `feed`. */
  private async run(command: Command, mode: SudoMode, options: ExecOptions, feed?: (channel: ClientChannel) => Promise<void>): Promise<ExecResult> {
    const { signal } = options
    if (signal?.aborted) throw new UserError(cancelledMessage(signal.reason, summarize(command.text, this.secrets)), { host: this.host })
    const client = await this.ensureClient()
    const label = summarize(withSudo(command, mode).text, this.secrets)
    // A command a cancel or a timeout may have to stop names its process group first (nodes/killable.ts).
    const group = signal ? new GroupReader() : undefined
    const text = withSudo(group ? killable(command) : command, mode).text
    const timeoutMs = options.timeoutMs ?? this.options.settings.defaultTimeoutMs ?? 30 * 60_000
    return this.channels.use(() => new Promise<ExecResult>((resolve, reject) => {
      const output = new OutputCollector(this.secrets, options.onLine)
      let exitCode: number | undefined
      let settled = false
      const finish = (error?: Error, result?: ExecResult) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.inFlight.delete(fail)
        if (error) reject(error)
        else resolve(result as ExecResult)
      }
      const fail = (error: Error) => finish(new UserError(`${error instanceof UserError ? stripHost(error.message, this.host) : error.message} while running: ${label}`, { host: this.host }))
      this.inFlight.add(fail)
      let channelRef: ClientChannel | undefined
      let stoppedWith: UserError | undefined
      const stopThen = (error: UserError) => {
        // The command may end on its own while it is being stopped: it still failed with `error`.
        stoppedWith = error
        this.inFlight.delete(fail)
        const stopped = group ? this.stopRemote(client, mode, group) : Promise.resolve()
        void stopped.then(() => {
          channelRef?.close()
          finish(error)
        })
      }
      const timer = setTimeout(() => {
        channelRef?.signal('KILL')
        stopThen(new UserError(`command timed out after ${Math.round(timeoutMs / 1000)} s: ${label}`, { host: this.host }))
      }, timeoutMs)
      const onAbort = () => stopThen(new UserError(cancelledMessage(signal?.reason, label), { host: this.host }))
      signal?.addEventListener('abort', onAbort, { once: true })
      openExecChannel(client, text, (error, channel) => {
        if (error) return fail(new Error(`cannot open a channel: ${error.message}`))
        channelRef = channel
        if (settled) return channel.close()
        channel.on('data', (chunk: Buffer) => output.push('stdout', chunk))
        channel.stderr.on('data', (chunk: Buffer) => output.push('stderr', group ? group.push(chunk) : chunk))
        channel.on('exit', (code: number | null, signal?: string) => {
          exitCode = code ?? (signal ? 128 + signalNumber(signal) : 255)
        })
        channel.on('close', () => {
          if (stoppedWith) return // finished once the stop is done
          if (group) output.push('stderr', group.rest())
          if (exitCode === undefined) return fail(new Error('the command ended without an exit status (connection lost?)'))
          const result = output.result(exitCode)
          const sudoProblem = mode !== 'none' && exitCode !== 0 ? sudoFailure(result.stderr, this.options.endpoint.user) : undefined
          if (sudoProblem) return finish(new UserError(sudoProblem, { host: this.host }, mode === 'password' ? 'Check the host password (or ssh-password input) used for sudo' : undefined))
          finish(undefined, result)
        })
        const preamble = sudoPreamble(mode, this.options.sudoPassword)
        if (preamble) channel.write(preamble)
        if (feed) feed(channel).catch((e: Error) => fail(new Error(`sending input failed: ${e.message}`)))
        else channel.end(options.stdin ?? '')
      })
    }))
  }

  /**
   * Stops a cancellable command's whole process group, on a channel of its own (outside the channel limit:
   * the stopped command still holds its slot). close() waits for these.
   */
  private stopRemote(client: Client, mode: SudoMode, group: GroupReader): Promise<void> {
    const stopped = group.wait(2_000).then(() => new Promise<void>((resolve) => {
      if (group.group === undefined) return resolve()
      const text = withSudo(stopCommand(group.group), mode).text
      const timer = setTimeout(resolve, 15_000)
      const done = () => { clearTimeout(timer); resolve() }
      openExecChannel(client, text, (error, channel) => {
        if (error) return done()
        channel.on('data', () => undefined)
        channel.stderr.on('data', () => undefined)
        channel.on('close', done)
        channel.end(sudoPreamble(mode, this.options.sudoPassword))
      })
    }))
    this.stopping.add(stopped)
    return stopped.finally(() => this.stopping.delete(stopped))
  }

  private sudo(): Promise<SudoMode> {
    if (this.options.endpoint.user === 'root') return Promise.resolve('none')
    this.sudoMode ??= this.run(SUDO_PROBE, 'none', { timeoutMs: 30_000 }).then((probe) => {
      if (probe.code === 0) return 'nopasswd' as const
      if (this.options.sudoPassword) return 'password' as const
      throw new UserError(`user ${this.options.endpoint.user} needs a password for sudo and none was given`, { host: this.host },
        'Set the host password in the config (or the ssh-password input), or allow NOPASSWD sudo for this user')
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
    const fileMode = options.mode ?? DEFAULT_MODE
    const useSftp = this.options.settings.uploadMethod === 'sftp' && mode === 'none'
    if (useSftp) {
      // The exec upload's script makes the directory itself; sftp cannot, so it is made here in the same round trip.
      const prepared = await this.run(prepareCommand(remotePath, options.keepOriginal), mode, { timeoutMs: 5 * 60_000 })
      if (prepared.code !== 0) throw new UserError(`cannot upload to ${remotePath}: ${lastLine(prepared.stderr) || `exit code ${prepared.code}`}`, { host: this.host })
      if (parseSha256(prepared.stdout) === sum) return { changed: false, bytes: 0 }
    }
    const result = useSftp
      ? await this.uploadSftp(localPath, remotePath, sum, fileMode)
      : await this.run(storeCommand(remotePath, sum, fileMode, size, options.keepOriginal), mode, { timeoutMs: transferTimeout(size) }, async (channel) => {
          if ((await firstLine(channel)) === SEND) await streamFile(localPath, channel)
          else channel.end()
        })
    if (result.code !== 0) {
      throw new UserError(`upload of ${localPath} to ${remotePath} failed: ${lastLine(result.stderr) || `exit code ${result.code}`}`, { host: this.host })
    }
    if (!useSftp && result.stdout.startsWith(SAME)) return { changed: false, bytes: 0 }
    return { changed: true, bytes: size }
  }

  private async uploadSftp(localPath: string, remotePath: string, sum: string, mode: number): Promise<ExecResult> {
    const tmp = join(dirname(remotePath), `.kk-upload.${basename(remotePath)}.${randomBytes(4).toString('hex')}`)
    const sftp = await this.sftp()
    const { sftpChunkSize, sftpConcurrency } = this.options.settings
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => reject(new UserError(`sftp upload of ${localPath} to ${remotePath} failed: ${error.message}`, { host: this.host }))
      this.inFlight.add(fail)
      sftp.fastPut(localPath, tmp, { chunkSize: sftpChunkSize ?? 32_768, concurrency: sftpConcurrency ?? 64, mode: 0o600 }, (error) => {
        this.inFlight.delete(fail)
        if (error) fail(error)
        else resolve()
      })
    })
    return this.run(verifyAndMoveCommand(tmp, remotePath, sum, mode), 'none', { timeoutMs: 60_000 })
  }

  /** One sftp channel per connection, opened on first use and kept (it takes one channel slot). */
  private sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= this.ensureClient().then((client) => new Promise<SFTPWrapper>((resolve, reject) => {
      retryOpen<SFTPWrapper>((done) => client.sftp((error, sftp) => done(error, sftp)), (error, sftp) => (error ? reject(new UserError(`cannot start sftp: ${error.message}`, { host: this.host })) : resolve(sftp)))
    }))
    this.sftpSession.catch(() => (this.sftpSession = undefined))
    return this.sftpSession
  }

  private async remoteSha256(remotePath: string, mode: SudoMode): Promise<string | undefined> {
    const result = await this.run(sha256Command(remotePath), mode, { timeoutMs: 5 * 60_000 })
    return result.code === 0 ? parseSha256(result.stdout) : undefined
  }

  async download(remotePath: string, localPath: string, options: { sudo?: boolean } = {}): Promise<TransferResult> {
    const mode = options.sudo ? await this.sudo() : 'none'
    const expected = await this.remoteSha256(remotePath, mode)
    if (!expected) throw new UserError(`cannot download ${remotePath}: no such file (or not readable)`, { host: this.host })
    const existing = await sha256File(localPath).catch(() => undefined)
    if (existing === expected) return { changed: false, bytes: 0 }
    const tmp = `${localPath}.kk-download.${randomBytes(4).toString('hex')}`
    try {
      const bytes = await this.downloadTo(remotePath, tmp, mode)
      if ((await sha256File(tmp)) !== expected) throw new UserError(`download of ${remotePath} arrived corrupted (sha256 mismatch)`, { host: this.host })
      await rename(tmp, localPath)
      return { changed: true, bytes }
    } finally {
      await rm(tmp, { force: true })
    }
  }

  private async downloadTo(remotePath: string, localTmp: string, mode: SudoMode): Promise<number> {
    const file = createWriteStream(localTmp, { mode: 0o600 })
    let bytes = 0
    const written: Promise<void>[] = []
    const result = await this.run(catCommand(remotePath), mode, {}, async (channel) => {
      channel.removeAllListeners('data')
      channel.on('data', (chunk: Buffer) => {
        bytes += chunk.length
        if (!file.write(chunk)) {
          channel.pause()
          file.once('drain', () => channel.resume())
        }
      })
      channel.end()
    })
    written.push(new Promise((resolve, reject) => file.end((error?: Error | null) => (error ? reject(error) : resolve()))))
    await Promise.all(written)
    if (result.code !== 0) throw new UserError(`download of ${remotePath} failed: ${lastLine(result.stderr) || `exit code ${result.code}`}`, { host: this.host })
    return bytes
  }

  async close(): Promise<void> {
    this.closing = true
    // Commands being stopped (a cancel's abort listeners run right after the one that called close).
    await Promise.resolve()
    await Promise.allSettled([...this.stopping])
    const client = await this.client?.catch(() => undefined)
    if (!client) return
    await new Promise<void>((resolve) => {
      client.once('close', () => resolve())
      client.end()
      setTimeout(() => {
        client.destroy()
        resolve()
      }, 2_000).unref()
    })
  }
}

/**
 * sshd frees a session slot only some time after the channel closed (once it reaped the child), so a
 * new channel can be refused right after an old one closed although fewer than MaxSessions are open.
 * Such refusals are retried briefly.
 */
function openExecChannel(client: Client, text: string, callback: (error: Error | undefined, channel: ClientChannel) => void): void {
  retryOpen<ClientChannel>((done) => client.exec(text, done), callback)
}

function retryOpen<T>(open: (done: (error: Error | undefined, value: T) => void) => void, callback: (error: Error | undefined, value: T) => void, attempt = 0): void {
  open((error, value) => {
    if (error && attempt < 12 && /open failed|Channel open failure/i.test(error.message)) {
      setTimeout(() => retryOpen(open, callback, attempt + 1), 10 * 2 ** Math.min(attempt, 6))
      return
    }
    callback(error, value)
  })
}

/** The first stdout line of a channel, or '' when it closes first. */
function firstLine(channel: ClientChannel): Promise<string> {
  return new Promise((resolve) => {
    let text = ''
    const onData = (chunk: Buffer) => {
      text += chunk.toString()
      const newline = text.indexOf('\n')
      if (newline < 0) return
      channel.removeListener('data', onData)
      channel.removeListener('close', onClose)
      resolve(text.slice(0, newline))
    }
    const onClose = () => resolve('')
    channel.on('data', onData)
    channel.once('close', onClose)
  })
}

/**
 * Sends a file as the channel's stdin. When the remote command exits first (a full disk, a checksum
 * failure), sending stops: sshd would not open the window again, and the channel would never close.
 */
async function streamFile(localPath: string, channel: ClientChannel): Promise<void> {
  const source = createReadStream(localPath, { highWaterMark: 256 * 1024 })
  let exited = false
  const stop = () => {
    exited = true
    source.destroy()
    channel.end()
  }
  channel.once('exit', stop)
  try {
    await pipeline(source, channel)
  } catch (error) {
    if (!exited) throw error
  } finally {
    channel.removeListener('exit', stop)
  }
}

/** Generous: a slow link at 1 MiB/s plus a minute. */
function transferTimeout(bytes: number): number {
  return 60_000 + Math.ceil(bytes / (1024 * 1024)) * 1_000
}

function summarize(commandText: string, secrets: string[]): string {
  const oneLine = redact(commandText, secrets).replace(/\s+/g, ' ')
  return oneLine.length > 120 ? `${oneLine.slice(0, 117)}...` : oneLine
}

function stripHost(message: string, host: string): string {
  const prefix = `host ${host}: `
  return message.startsWith(prefix) ? message.slice(prefix.length) : message
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n')
  return (lines[lines.length - 1] ?? '').slice(0, 300)
}

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, SEGV: 11, PIPE: 13, ALRM: 14, TERM: 15 }
function signalNumber(signal: string): number {
  return SIGNALS[signal.replace(/^SIG/, '')] ?? 0
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
