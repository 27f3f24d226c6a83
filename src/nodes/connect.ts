/**
 * From config hosts to connections: reads keys, applies the action's SSH inputs, and opens each host
 * (and each bastion) exactly once per run.
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import type { Client } from 'ssh2'
import type { Bastion, Host } from '../config/types.js'
import { UserError } from '../errors.js'
import type { Connection } from './connection.js'
import type { HostKeyPolicy } from './hostkeys.js'
import { LocalConnection } from './local.js'
import { ConnectError, SshConnection, connectWithRetry, type Log, type SshEndpoint, type SshSettings } from './ssh.js'

export interface ConnectOptions {
  hostKeyPolicy: HostKeyPolicy
  /** The known-hosts input; ~/.ssh/known_hosts when absent. */
  knownHostsPath?: string
  /** The ssh-private-key input: used for hosts that name no key of their own. */
  privateKey?: string
  /** The ssh-password input: used for hosts that set no password (login, keyboard-interactive and sudo). */
  sshPassword?: string
  connectTimeoutMs?: number
  /** SSH keepalive period; a host that stops answering 3 of them in a row is reported lost. */
  keepaliveIntervalMs?: number
  retries?: number
  retryBaseDelayMs?: number
  maxChannels?: number
  defaultTimeoutMs?: number
  uploadMethod?: 'exec' | 'sftp'
  sftpChunkSize?: number
  sftpConcurrency?: number
  log?: Log
}

export function settingsFrom(options: ConnectOptions): SshSettings {
  return {
    hostKeyPolicy: options.hostKeyPolicy,
    knownHostsPath: options.knownHostsPath ?? join(homedir(), '.ssh', 'known_hosts'),
    connectTimeoutMs: options.connectTimeoutMs,
    keepaliveIntervalMs: options.keepaliveIntervalMs,
    retries: options.retries,
    retryBaseDelayMs: options.retryBaseDelayMs,
    maxChannels: options.maxChannels,
    defaultTimeoutMs: options.defaultTimeoutMs,
    uploadMethod: options.uploadMethod,
    sftpChunkSize: options.sftpChunkSize,
    sftpConcurrency: options.sftpConcurrency,
    log: options.log,
  }
}

/** The credentials of a host or bastion: its own key, else the action's key, else its password. */
export function endpointFor(name: string, target: Host | Bastion, options: ConnectOptions): SshEndpoint {
  const password = target.password ?? options.sshPassword
  const base = { name, address: target.address, port: target.port, user: target.user, password }
  if (target.privateKey) return { ...base, privateKey: target.privateKey, privateKeySource: 'privateKey' }
  if (target.privateKeyPath) {
    return { ...base, privateKey: readKey(name, expandHome(target.privateKeyPath)), privateKeySource: 'privateKeyPath' }
  }
  if (options.privateKey) return { ...base, privateKey: options.privateKey, privateKeySource: 'ssh-private-key' }
  if (password === undefined) {
    // KubeKey's default when a host names neither key nor password.
    for (const file of ['id_ed25519', 'id_rsa']) {
      const path = join(homedir(), '.ssh', file)
      const key = tryRead(path)
      if (key) return { ...base, privateKey: key, privateKeySource: path }
    }
  }
  return base
}

function readKey(host: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new UserError(`cannot read the private key ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { host, field: 'privateKeyPath' })
  }
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path
}

/** Opens one host now (connect errors surface here). Bastions are opened for this host alone. */
export async function connectHost(host: Host, options: ConnectOptions): Promise<SshConnection> {
  const pool = new ConnectionPool(options)
  const connection = (await pool.get(host)) as SshConnection
  const closeHost = connection.close.bind(connection)
  connection.close = async () => {
    await closeHost()
    pool.closeBastions()
  }
  return connection
}

/** Opens every host (and every bastion) at most once; `closeAll` at the end of the run. */
export class ConnectionPool {
  private readonly connections = new Map<string, Promise<Connection>>()
  private readonly bastions = new Map<string, Promise<Client>>()
  private readonly settings: SshSettings

  constructor(private readonly options: ConnectOptions) {
    this.settings = settingsFrom(options)
  }

  get(host: Host): Promise<Connection> {
    let connection = this.connections.get(host.name)
    if (!connection) {
      connection = this.open(host)
      this.connections.set(host.name, connection)
      connection.catch(() => this.connections.delete(host.name))
    }
    return connection
  }

  /** The runner itself, for `nodes: ephemeral`. */
  local(name: string): Connection {
    return new LocalConnection(name, { sudoPassword: this.options.sshPassword, log: this.options.log })
  }

  private async open(host: Host): Promise<Connection> {
    const endpoint = endpointFor(host.name, host, this.options)
    const connection = new SshConnection({
      endpoint,
      settings: this.settings,
      sudoPassword: endpoint.password,
      tunnel: host.bastion ? () => this.tunnel(host, host.bastion as Bastion) : undefined,
    })
    await connection.connect()
    return connection
  }

  private async tunnel(host: Host, bastion: Bastion): Promise<Duplex> {
    const key = `${bastion.user}@${bastion.address}:${bastion.port}`
    let client = this.bastions.get(key)
    if (!client) {
      const endpoint = endpointFor(`${host.name} (bastion ${bastion.address})`, bastion, this.options)
      client = connectWithRetry(endpoint, this.settings)
      this.bastions.set(key, client)
      client.then((c) => c.on('close', () => this.bastions.delete(key)), () => this.bastions.delete(key))
    }
    const jump = await client
    const timeoutMs = this.options.connectTimeoutMs ?? 15_000
    return new Promise((resolve, reject) => {
      // A retryable ConnectError: the bastion answered, but the host behind it did not (yet).
      const timer = setTimeout(() => reject(new ConnectError(`bastion ${bastion.address} got no answer from ${host.address}:${host.port} within ${timeoutMs} ms`, host.name, true)), timeoutMs)
      jump.forwardOut('127.0.0.1', 0, host.address, host.port, (error, stream) => {
        clearTimeout(timer)
        if (error) {
          reject(new ConnectError(`bastion ${bastion.address} cannot reach ${host.address}:${host.port}: ${error.message}`, host.name, true))
        } else resolve(stream)
      })
    })
  }

  async closeAll(): Promise<void> {
    const opened = await Promise.allSettled([...this.connections.values()])
    await Promise.all(opened.map((o) => (o.status === 'fulfilled' ? o.value.close() : undefined)))
    this.connections.clear()
    this.closeBastions()
  }

  closeBastions(): void {
    for (const jump of this.bastions.values()) jump.then((client) => client.end(), () => undefined)
    this.bastions.clear()
  }
}
