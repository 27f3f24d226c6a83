/**
 * Host key checking against an OpenSSH known_hosts file: plain and hashed (`|1|salt|hash`) host
 * patterns, `[host]:port` for non-22 ports, wildcards and negation, `@revoked` lines.
 */
import { createHash, createHmac } from 'node:crypto'
import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { UserError } from '../errors.js'
import { quote } from './quote.js'

export type HostKeyPolicy = 'strict' | 'accept-new' | 'off'
export const HOST_KEY_POLICIES: readonly HostKeyPolicy[] = ['strict', 'accept-new', 'off']

export interface KnownKey {
  type: string
  /** base64 of the key blob, as in the file. */
  key: string
  revoked: boolean
}

/** `SHA256:<base64 without padding>` of the key blob, exactly as `ssh-keygen -l` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`
}

/** The algorithm name at the start of an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, ...). */
export function keyType(keyBlob: Buffer): string {
  const length = keyBlob.readUInt32BE(0)
  return keyBlob.subarray(4, 4 + length).toString('latin1')
}

/** How known_hosts names a host: `address`, or `[address]:port` when the port is not 22. */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`
}

export function parseKnownHosts(text: string, address: string, port: number): KnownKey[] {
  const name = knownHostsName(address, port)
  const keys: KnownKey[] = []
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim()
    if (!line || line.startsWith('#')) continue
    const fields = line.split(/\s+/)
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined
    if (marker === '@cert-authority' || fields.length < 3) continue
    const [patterns, type, key] = fields
    if (hostMatches(patterns, name)) keys.push({ type, key, revoked: marker === '@revoked' })
  }
  return keys
}

function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) return hashedMatches(patterns, name)
  let matched = false
  for (const pattern of patterns.split(',')) {
    const negated = pattern.startsWith('!')
    if (globMatches(negated ? pattern.slice(1) : pattern, name)) {
      if (negated) return false
      matched = true
    }
  }
  return matched
}

function hashedMatches(entry: string, name: string): boolean {
  const [, , salt, hash] = entry.split('|')
  if (!salt || !hash) return false
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64')
  return digest === hash
}

function globMatches(pattern: string, name: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${regex}$`, 'i').test(name)
}

export interface HostKeyCheck {
  host: string
  address: string
  port: number
  policy: HostKeyPolicy
  knownHostsPath: string
  log?: (level: 'info' | 'warn', message: string) => void
}

/**
 * Decides whether the key a server presented is acceptable. Throws a UserError (with the presented
 * fingerprint and the command that records it) when it is not; under accept-new records an unknown key.
 */
export class HostKeyVerifier {
  private known: KnownKey[] = []

  constructor(private readonly check: HostKeyCheck) {}

  /** Reads the known keys; call before connecting (the result orders the host key algorithms). */
  async load(): Promise<void> {
    if (this.check.policy === 'off') return
    const text = await readFile(this.check.knownHostsPath, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return ''
      throw new UserError(`cannot read known_hosts file ${this.check.knownHostsPath}: ${error.code ?? error.message}`, { host: this.check.host })
    })
    this.known = parseKnownHosts(text, this.check.address, this.check.port)
  }

  /** Key types to prefer in the handshake, so the server presents a key we can compare. */
  preferredKeyTypes(): string[] {
    return [...new Set(this.known.filter((k) => !k.revoked).map((k) => k.type))]
  }

  /** Returns a UserError to fail with, or undefined when the key is accepted. */
  async verify(keyBlob: Buffer): Promise<UserError | undefined> {
    const { host, address, port, policy, knownHostsPath } = this.check
    const presented = { type: keyType(keyBlob), key: keyBlob.toString('base64') }
    const print = `${presented.type} key ${fingerprint(keyBlob)}`
    if (policy === 'off') {
      this.check.log?.('warn', `host ${host}: host key checking is off (host-key-policy: off); accepted ${print} unchecked`)
      return undefined
    }
    const same = this.known.filter((k) => k.key === presented.key)
    if (same.some((k) => k.revoked)) {
      return new UserError(`the host key presented by ${address}:${port} (${print}) is marked @revoked in ${knownHostsPath}`, { host })
    }
    if (same.length > 0) return undefined
    const sameType = this.known.filter((k) => k.type === presented.type && !k.revoked)
    if (sameType.length > 0) {
      return new UserError(
        `the host key of ${address}:${port} has CHANGED: it presented ${print}, which does not match ${knownHostsPath} (someone may be intercepting the connection, or the host was reinstalled)`,
        { host },
        `If the host was reinstalled, check the new fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_${presented.type.replace(/^ssh-/, '')}_key.pub), then run: ssh-keygen -R ${quote(knownHostsName(address, port))} -f ${quote(knownHostsPath)} && ssh-keyscan -p ${port} ${quote(address)} >> ${quote(knownHostsPath)}`,
      )
    }
    if (policy === 'accept-new') {
      await this.record(presented.type, presented.key)
      this.check.log?.('info', `host ${host}: recorded new host key ${print} in ${knownHostsPath} (host-key-policy: accept-new)`)
      return undefined
    }
    return new UserError(
      `the host key of ${address}:${port} is not known: it presented ${print}, and ${knownHostsPath} has no key for ${knownHostsName(address, port)}`,
      { host },
      `Check the fingerprint, then add it with: ssh-keyscan -p ${port} ${quote(address)} >> ${quote(knownHostsPath)} (or pass it in the known-hosts input, or set host-key-policy: accept-new)`,
    )
  }

  private async record(type: string, key: string): Promise<void> {
    const { address, port, knownHostsPath } = this.check
    await mkdir(dirname(knownHostsPath), { recursive: true, mode: 0o700 })
    await appendFile(knownHostsPath, `${knownHostsName(address, port)} ${type} ${key}\n`, { mode: 0o600 })
    this.known.push({ type, key, revoked: false })
  }
}

