/** The etcd module's pure parts: certificate reuse and reissue, rendered files, parsing, the encrypted PEM read. */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash, X509Certificate } from 'node:crypto'
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Host } from '../../src/config/types.js'
import { preparePki, wantedCerts, type PemFiles } from '../../src/modules/etcd-certs.js'
import { onCalendar, renderBackupScript, renderEtcdEnv } from '../../src/modules/etcd-config.js'
import { decideRoles, foreignMembers, joiningInitialCluster } from '../../src/modules/etcd-membership.js'
import { decryptOpensslEnc, parseMemberList, type MemberState } from '../../src/modules/etcd-remote.js'
import { putFiles } from '../../src/modules/steps.js'
import type { TaskContext } from '../../src/pipeline/types.js'
import { makeConfig } from '../plan/make-config.js'

const config = makeConfig({ controlPlanes: 3 })
const [node1, node2, node3] = config.hosts

function sans(pem: string): string {
  return new X509Certificate(pem).subjectAltName ?? ''
}

describe('etcd PKI', () => {
  it('creates a CA and member, admin and node certificates with each host\'s own names', async () => {
    const pki = await preparePki(new Map(), wantedCerts([node1, node2], [node1, node2, node3]))
    expect(pki.createdCA).toBe(true)
    expect([...pki.files.keys()].sort()).toEqual([
      'admin-node1-key.pem', 'admin-node1.pem', 'admin-node2-key.pem', 'admin-node2.pem', 'ca-key.pem', 'ca.pem',
      'member-node1-key.pem', 'member-node1.pem', 'member-node2-key.pem', 'member-node2.pem',
      'node-node1-key.pem', 'node-node1.pem', 'node-node2-key.pem', 'node-node2.pem', 'node-node3-key.pem', 'node-node3.pem',
    ])
    const member2 = sans(pki.files.get('member-node2.pem')!)
    expect(member2).toContain('DNS:node2')
    expect(member2).toContain('DNS:localhost')
    expect(member2).toContain('IP Address:10.0.0.2')
    expect(member2).toContain('IP Address:127.0.0.1')
    expect(member2).not.toContain('10.0.0.1')
    const member = new X509Certificate(pki.files.get('member-node2.pem')!)
    expect(member.checkIssued(new X509Certificate(pki.files.get('ca.pem')!))).toBe(true)
    expect(member.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']))
    expect(new X509Certificate(pki.files.get('admin-node1.pem')!).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2'])
  })

  it('reuses everything that is still right: same CA, no certificate issued', async () => {
    const wanted = wantedCerts([node1, node2], [node1])
    const first = await preparePki(new Map(), wanted)
    const second = await preparePki(first.files, wanted)
    expect(second.issued).toEqual([])
    expect(second.createdCA).toBe(false)
    expect(second.files).toEqual(first.files)
  })

  it('issues only what is missing or wrong: a new host, a changed address, a key that does not match', async () => {
    const first = await preparePki(new Map(), wantedCerts([node1, node2], [node1]))
    const existing: PemFiles = new Map(first.files)
    existing.set('admin-node1-key.pem', first.files.get('admin-node2-key.pem')!)
    const moved: Host = { ...node2, internalAddress: '10.0.9.2', address: '10.0.9.2' }
    const second = await preparePki(existing, wantedCerts([node1, moved, node3], [node1]))
    expect(second.issued.sort()).toEqual([
      'admin-node1-key.pem', 'admin-node1.pem', 'admin-node2-key.pem', 'admin-node2.pem', 'admin-node3-key.pem', 'admin-node3.pem',
      'member-node2-key.pem', 'member-node2.pem', 'member-node3-key.pem', 'member-node3.pem',
    ])
    expect(second.files.get('ca.pem')).toBe(first.files.get('ca.pem'))
    expect(second.files.get('member-node1.pem')).toBe(first.files.get('member-node1.pem'))
    expect(sans(second.files.get('member-node2.pem')!)).toContain('IP Address:10.0.9.2')
  })

  it('never replaces a CA it cannot use: a CA without its key is an error, not a new CA', async () => {
    const first = await preparePki(new Map(), wantedCerts([node1], [node1]))
    const withoutKey = new Map(first.files)
    withoutKey.delete('ca-key.pem')
    await expect(preparePki(withoutKey, wantedCerts([node1], [node1]))).rejects.toThrow(/has ca.pem but not ca-key.pem/)
  })
})

describe('etcd files', () => {
  it('renders etcd.env with the member\'s addresses, bootstrap settings and TLS files', () => {
    const env = renderEtcdEnv(config, node2, 'etcd-node2', { state: 'new', initialCluster: 'etcd-node1=https://10.0.0.1:2380' }, '3.4.23')
    expect(env).toContain('ETCD_NAME=etcd-node2\n')
    expect(env).toContain('ETCD_LISTEN_CLIENT_URLS=https://10.0.0.2:2379,https://127.0.0.1:2379\n')
    expect(env).toContain('ETCD_INITIAL_ADVERTISE_PEER_URLS=https://10.0.0.2:2380\n')
    expect(env).toContain('ETCD_INITIAL_CLUSTER_STATE=new\n')
    expect(env).toContain('ETCD_CERT_FILE=/etc/ssl/etcd/ssl/member-node2.pem\n')
    expect(env).toContain('ETCD_CLIENT_CERT_AUTH=true\n')
    expect(env).toContain('ETCD_PEER_CLIENT_CERT_AUTH=true\n')
    expect(env).not.toContain('ETCD_UNSUPPORTED_ARCH')
    expect(renderEtcdEnv(config, { ...node2, arch: 'arm64' }, 'etcd-node2', { state: 'new', initialCluster: 'x=y' }, '3.4.23'))
      .toContain('ETCD_UNSUPPORTED_ARCH=arm64')
  })

  it('refuses a config value that would add a line to etcd.env', () => {
    const hostile = makeConfig({ controlPlanes: 1 })
    hostile.etcd.dataDir = '/var/lib/etcd\nETCD_CLIENT_CERT_AUTH=false'
    expect(() => renderEtcdEnv(hostile, hostile.hosts[0], 'etcd-node1', { state: 'new', initialCluster: 'a=b' }, '3.4.23'))
      .toThrow(/spec.etcd.dataDir: ETCD_DATA_DIR would be/)
  })

  it('puts the backup directory into the script as one quoted word', () => {
    const odd = makeConfig({ controlPlanes: 1 })
    odd.etcd.backupDir = "/srv/etcd backups/$(reboot)'x"
    const script = renderBackupScript(odd, odd.hosts[0])
    expect(script).toContain(`backup_root='/srv/etcd backups/$(reboot)'\\''x'`)
    const parsed = execFileSync('sh', ['-c', `${script.split('\n').find((l) => l.startsWith('backup_root='))}; printf %s "$backup_root"`]).toString()
    expect(parsed).toBe("/srv/etcd backups/$(reboot)'x")
  })

  it("maps backupPeriod minutes to KubeKey's OnCalendar events", () => {
    expect(onCalendar(30)).toBe('*-*-* *:00/30:00')
    expect(onCalendar(120)).toBe('*-*-* 00/2:00:00')
    expect(onCalendar(90)).toBe('*-*-* 00/1:30:00')
    expect(onCalendar(1440)).toBe('*-*-* 00:00:00')
    expect(onCalendar(0)).toBe('*-*-* *:00/30:00')
  })
})

describe('etcd remote helpers', () => {
  it('parses member list, including a member added but not started', () => {
    const members = parseMemberList([
      '8e9e05c52164694d, started, etcd-node1, https://10.0.0.1:2380, https://10.0.0.1:2379, false',
      'a1b2c3d4e5f60718, unstarted, , https://10.0.0.3:2380, , false',
    ].join('\n'))
    expect(members).toEqual([
      { id: '8e9e05c52164694d', started: true, name: 'etcd-node1', peerUrls: ['https://10.0.0.1:2380'], clientUrls: ['https://10.0.0.1:2379'] },
      { id: 'a1b2c3d4e5f60718', started: false, name: '', peerUrls: ['https://10.0.0.3:2380'], clientUrls: [] },
    ])
  })

  it('parses member list lines with several peer and client URLs (etcdctl joins URLs with "," and fields with ", ")', () => {
    const members = parseMemberList([
      '8e9e05c52164694d, started, etcd-node1, https://10.0.0.1:2380,https://node1.example:2380, https://10.0.0.1:2379,https://127.0.0.1:2379, false',
      'a1b2c3d4e5f60718, unstarted, , https://10.0.0.3:2380,https://10.0.0.4:2380, , true',
    ].join('\n'))
    expect(members).toEqual([
      { id: '8e9e05c52164694d', started: true, name: 'etcd-node1', peerUrls: ['https://10.0.0.1:2380', 'https://node1.example:2380'], clientUrls: ['https://10.0.0.1:2379', 'https://127.0.0.1:2379'] },
      { id: 'a1b2c3d4e5f60718', started: false, name: '', peerUrls: ['https://10.0.0.3:2380', 'https://10.0.0.4:2380'], clientUrls: [] },
    ])
  })

  it('decrypts what openssl enc -pbkdf2 produced, and refuses plain text', () => {
    const secret = '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n'
    const encrypted = execFileSync('sh', ['-c', `{ printf %s "$1" | openssl enc -aes-256-cbc -pbkdf2 -iter 10000 -md sha256 -salt -pass fd:3; } 3<&0`, 'x', secret],
      { input: 'pass phrase\n' })
    expect(encrypted.includes(Buffer.from('PRIVATE KEY'))).toBe(false)
    expect(decryptOpensslEnc(encrypted, 'pass phrase').toString()).toBe(secret)
    const wrong = (() => { try { return decryptOpensslEnc(encrypted, 'wrong').toString() } catch { return 'refused' } })()
    expect(wrong).not.toBe(secret)
    expect(() => decryptOpensslEnc(Buffer.from(secret), 'pass phrase')).toThrow(/did not send an encrypted listing/)
  })
})

describe('etcd membership', () => {
  const ports = { client: 2379, peer: 2380 }
  const fresh: MemberState = { hasData: false, active: false, restartPending: false, env: {} }
  const states = (entries: Record<string, Partial<MemberState>>) =>
    new Map(Object.entries(entries).map(([name, state]) => [name, { ...fresh, ...state }]))
  const allThree = 'etcd-node1=https://10.0.0.1:2380,etcd-node2=https://10.0.0.2:2380,etcd-node3=https://10.0.0.3:2380'

  it('bootstraps a new cluster of every etcd host when none has data', () => {
    const roles = decideRoles([node1, node2, node3], states({ node1: {}, node2: {}, node3: {} }), ports)
    for (const name of ['node1', 'node2', 'node3']) {
      expect(roles.get(name)).toEqual({ kind: 'bootstrap', bootstrap: { state: 'new', initialCluster: allThree } })
    }
  })

  it('keeps members with data and lets a host that was never part of the cluster join', () => {
    const two = 'etcd-node1=https://10.0.0.1:2380,etcd-node2=https://10.0.0.2:2380'
    const roles = decideRoles([node1, node2, node3], states({
      node1: { hasData: true, active: true, env: { state: 'new', initialCluster: two } },
      node2: { hasData: true, active: true, env: { state: 'new', initialCluster: two } },
      node3: {},
    }), ports)
    expect(roles.get('node1')).toEqual({ kind: 'member' })
    expect(roles.get('node2')).toEqual({ kind: 'member' })
    expect(roles.get('node3')).toEqual({ kind: 'join' })
  })

  it('starts a planned initial member that never ran as part of the original bootstrap, not as a joiner', () => {
    const roles = decideRoles([node1, node2, node3], states({
      node1: { hasData: true, active: true, env: { state: 'new', initialCluster: allThree } },
      node2: { hasData: true, active: true, env: { state: 'new', initialCluster: allThree } },
      node3: {},
    }), ports)
    expect(roles.get('node3')).toEqual({ kind: 'bootstrap', bootstrap: { state: 'new', initialCluster: allThree } })
  })

  it('refuses hosts that hold different CAs, naming them', () => {
    expect(() => decideRoles([node1, node2, node3], states({ node1: { caSha256: 'a' }, node2: { caSha256: 'b' }, node3: { caSha256: 'a' } }), ports))
      .toThrow(/different CAs .*node1, node3 \| node2/)
  })

  it('gives a joining member every peer URL of each member in its initial cluster', () => {
    const members = parseMemberList([
      '1, started, etcd-node1, https://10.0.0.1:2380,https://192.168.0.1:2380, https://10.0.0.1:2379, false',
      '3, unstarted, , https://10.0.0.3:2380, , false',
    ].join('\n'))
    expect(joiningInitialCluster(members, 'https://10.0.0.3:2380', 'etcd-node3'))
      .toBe('etcd-node1=https://10.0.0.1:2380,etcd-node1=https://192.168.0.1:2380,etcd-node3=https://10.0.0.3:2380')
  })

  it('finds members whose peer URL is no etcd host of the config', () => {
    const members = parseMemberList([
      '1, started, etcd-node1, https://10.0.0.1:2380, https://10.0.0.1:2379, false',
      '2, started, etcd-old, https://10.0.0.9:2380, https://10.0.0.9:2379, false',
    ].join('\n'))
    expect(foreignMembers([node1, node2], members, ports).map((m) => m.name)).toEqual(['etcd-old'])
  })
})

describe('putFiles (the certificate directory in a few round trips)', () => {
  /** A TaskContext whose "node" is this machine: commands run in sh, uploads are sha-checked copies. */
  function localTask() {
    const log = { commands: 0, uploads: 0, changed: false }
    const t = {
      exec: async (command: { text: string }) => {
        log.commands++
        const result = spawnSync('sh', ['-c', command.text], { encoding: 'utf8' })
        if (result.status !== 0) throw new Error(result.stderr)
        return { code: 0, stdout: result.stdout, stderr: result.stderr }
      },
      upload: async (local: string, remote: string, options?: { mode?: number }) => {
        const same = (() => { try { return readFileSync(remote).equals(readFileSync(local)) } catch { return false } })()
        if (same) return { changed: false, bytes: 0 }
        log.uploads++
        copyFileSync(local, remote)
        chmodSync(remote, options?.mode ?? 0o644)
        return { changed: true, bytes: statSync(local).size }
      },
      changed: () => { log.changed = true },
    } as unknown as TaskContext
    return { t, log }
  }
  const sha = (text: string) => createHash('sha256').update(text).digest('hex')

  it('sends only differing files, in one bundle, with their modes; a second call sends nothing', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kk-putfiles-')), 'ssl')
    const files = new Map([
      ['ca.pem', { content: 'CA CERT\n', mode: 0o644 }],
      ['ca-key.pem', { content: "KEY with 'quotes' $(and) `more`\n", mode: 0o600 }],
    ])
    const first = localTask()
    expect(await putFiles(first.t, dir, files)).toEqual(['ca.pem', 'ca-key.pem'])
    expect(first.log).toEqual({ commands: 2, uploads: 1, changed: true })
    expect(readdirSync(dir).sort()).toEqual(['ca-key.pem', 'ca.pem'])
    expect(sha(readFileSync(join(dir, 'ca-key.pem'), 'utf8'))).toBe(sha(files.get('ca-key.pem')!.content))
    expect(statSync(join(dir, 'ca-key.pem')).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'ca.pem')).mode & 0o777).toBe(0o644)

    const second = localTask()
    expect(await putFiles(second.t, dir, files)).toEqual([])
    expect(second.log).toEqual({ commands: 1, uploads: 0, changed: false })

    files.set('ca.pem', { content: 'NEW CA CERT\n', mode: 0o644 })
    expect(await putFiles(localTask().t, dir, files)).toEqual(['ca.pem'])
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).toBe('NEW CA CERT\n')
  })

  it('refuses a name that is not a plain file name', async () => {
    await expect(putFiles(localTask().t, '/nonexistent', new Map([['../escape.pem', { content: 'x', mode: 0o644 }]])))
      .rejects.toThrow(/not a plain file name/)
  })
})
