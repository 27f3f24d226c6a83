import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { HostKeyVerifier, fingerprint, keyType, knownHostsName, parseKnownHosts } from '../../src/nodes/hostkeys.js'

const dir = mkdtempSync(join(tmpdir(), 'kk-hostkeys-'))

function newKey(name: string, type = 'ed25519'): { line: string; blob: Buffer; pubPath: string } {
  const path = join(dir, name)
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path])
  const line = readFileSync(`${path}.pub`, 'utf8').trim()
  return { line, blob: Buffer.from(line.split(' ')[1], 'base64'), pubPath: `${path}.pub` }
}

const a = newKey('a')
const b = newKey('b')
const rsa = newKey('r', 'rsa')
const [aType, aKey] = a.line.split(' ')

describe('fingerprint and key type', () => {
  it('prints SHA256 fingerprints exactly as ssh-keygen -l does', () => {
    for (const key of [a, rsa]) {
      expect(fingerprint(key.blob)).toBe(execFileSync('ssh-keygen', ['-lf', key.pubPath], { encoding: 'utf8' }).split(' ')[1])
    }
  })

  it('reads the algorithm from the key blob', () => {
    expect(keyType(a.blob)).toBe('ssh-ed25519')
    expect(keyType(rsa.blob)).toBe('ssh-rsa')
  })
})

describe('known_hosts parsing', () => {
  it('names non-22 ports as [host]:port', () => {
    expect(knownHostsName('10.0.0.1', 22)).toBe('10.0.0.1')
    expect(knownHostsName('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222')
  })

  it('matches plain, [host]:port, lists, wildcards and negations', () => {
    const text = [
      `# comment`, `10.0.0.1 ${aType} ${aKey}`, `[10.0.0.2]:2222 ${aType} ${aKey}`,
      `other,10.0.0.3 ${aType} ${aKey}`, `10.1.* ${aType} ${aKey}`, `10.2.*,!10.2.0.9 ${aType} ${aKey}`,
    ].join('\n')
    expect(parseKnownHosts(text, '10.0.0.1', 22)).toHaveLength(1)
    expect(parseKnownHosts(text, '10.0.0.2', 22)).toHaveLength(0)
    expect(parseKnownHosts(text, '10.0.0.2', 2222)).toHaveLength(1)
    expect(parseKnownHosts(text, '10.0.0.3', 22)).toHaveLength(1)
    expect(parseKnownHosts(text, '10.1.5.5', 22)).toHaveLength(1)
    expect(parseKnownHosts(text, '10.2.0.8', 22)).toHaveLength(1)
    expect(parseKnownHosts(text, '10.2.0.9', 22)).toHaveLength(0)
  })

  it('matches entries hashed by ssh-keygen -H, with and without a port', () => {
    const file = join(dir, 'hashed')
    writeFileSync(file, `10.9.9.9 ${aType} ${aKey}\n[10.9.9.8]:2200 ${aType} ${aKey}\n`)
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' })
    const text = readFileSync(file, 'utf8')
    expect(text).not.toContain('10.9.9')
    expect(parseKnownHosts(text, '10.9.9.9', 22)).toEqual([{ type: aType, key: aKey, revoked: false }])
    expect(parseKnownHosts(text, '10.9.9.8', 2200)).toHaveLength(1)
    expect(parseKnownHosts(text, '10.9.9.8', 22)).toHaveLength(0)
  })
})

describe('HostKeyVerifier', () => {
  const verifierFor = async (text: string, policy: 'strict' | 'accept-new' | 'off', port = 22) => {
    const path = join(dir, `kh-${Math.random().toString(36).slice(2)}`)
    writeFileSync(path, text)
    const logs: string[] = []
    const verifier = new HostKeyVerifier({ host: 'web1', address: '10.0.0.1', port, policy, knownHostsPath: path, log: (l, m) => logs.push(`${l} ${m}`) })
    await verifier.load()
    return { verifier, path, logs }
  }

  it('accepts the known key and prefers its type in the handshake', async () => {
    const { verifier } = await verifierFor(`10.0.0.1 ${aType} ${aKey}\n`, 'strict')
    expect(await verifier.verify(a.blob)).toBeUndefined()
    expect(verifier.preferredKeyTypes()).toEqual(['ssh-ed25519'])
  })

  it('reports a changed key with the new fingerprint and the commands to fix it', async () => {
    const { verifier, path } = await verifierFor(`[10.0.0.1]:2222 ${aType} ${aKey}\n`, 'accept-new', 2222)
    const error = await verifier.verify(b.blob)
    expect(error?.message).toBe(`host web1: the host key of 10.0.0.1:2222 has CHANGED: it presented ssh-ed25519 key ${fingerprint(b.blob)}, which does not match ${path} (someone may be intercepting the connection, or the host was reinstalled). If the host was reinstalled, check the new fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run: ssh-keygen -R '[10.0.0.1]:2222' -f ${path} && ssh-keyscan -p 2222 10.0.0.1 >> ${path}`)
  })

  it('treats a key of another type as unknown, not changed', async () => {
    const { verifier } = await verifierFor(`10.0.0.1 ${aType} ${aKey}\n`, 'strict')
    expect((await verifier.verify(rsa.blob))?.message).toMatch(/is not known: it presented ssh-rsa key SHA256:/)
  })

  it('refuses a key marked @revoked', async () => {
    const { verifier } = await verifierFor(`@revoked 10.0.0.1 ${aType} ${aKey}\n`, 'off')
    expect(await verifier.verify(a.blob)).toBeUndefined()
    const strict = await verifierFor(`@revoked * ${aType} ${aKey}\n`, 'strict')
    expect((await strict.verifier.verify(a.blob))?.message).toMatch(/@revoked/)
  })

  it('accept-new appends the key in the [host]:port form and accepts it from then on', async () => {
    const { verifier, path, logs } = await verifierFor('', 'accept-new', 2222)
    expect(await verifier.verify(a.blob)).toBeUndefined()
    expect(readFileSync(path, 'utf8')).toBe(`[10.0.0.1]:2222 ${aType} ${aKey}\n`)
    expect(logs[0]).toContain(fingerprint(a.blob))
    expect(await verifier.verify(b.blob)).toBeInstanceOf(Error)
  })

  it('reads a missing known_hosts file as empty', async () => {
    const verifier = new HostKeyVerifier({ host: 'h', address: 'x', port: 22, policy: 'strict', knownHostsPath: join(dir, 'nope') })
    await verifier.load()
    expect((await verifier.verify(a.blob))?.message).toContain(`ssh-keyscan -p 22 x >> ${join(dir, 'nope')}`)
  })
})
