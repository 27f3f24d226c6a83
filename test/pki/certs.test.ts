import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CA_VALIDITY_DAYS, LEAF_VALIDITY_DAYS, certCovers, createCA, describeCert, isIssuedBy, issueCert, loadCA,
  type CertificateAuthority,
} from '../../src/pki/certs.js'

const run = promisify(execFile)
const DAY = 24 * 60 * 60 * 1000
const dir = mkdtempSync(join(tmpdir(), 'kk-pki-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function write(name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text, { mode: 0o600 })
  return file
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function opensslOk(...args: string[]): boolean {
  try {
    openssl(...args)
    return true
  } catch {
    return false
  }
}

describe('createCA / issueCert, checked with openssl', () => {
  let ca: CertificateAuthority
  let caFile: string
  beforeAll(async () => {
    ca = await createCA('etcd-ca')
    caFile = write('ca.pem', ca.certPem)
  })

  it('makes a CA certificate: CA:TRUE (critical), cert/CRL signing, self-signed, 10 years, ECDSA P-256', () => {
    const text = openssl('x509', '-in', caFile, '-noout', '-text')
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/)
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/)
    expect(text).toContain('Subject: CN = etcd-ca')
    expect(text).toContain('Issuer: CN = etcd-ca')
    expect(text).toContain('ASN1 OID: prime256v1')
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256')
    expect(openssl('verify', '-CAfile', caFile, caFile).trim()).toBe(`${caFile}: OK`)
    const summary = describeCert(ca.certPem)
    expect(summary.isCA).toBe(true)
    const days = (summary.notAfter.getTime() - summary.notBefore.getTime()) / DAY
    expect(days).toBe(CA_VALIDITY_DAYS)
    expect(Date.now() - summary.notBefore.getTime()).toBeGreaterThanOrEqual(4 * 60 * 1000) // back-dated 5 min
    // SEC1 for ECDSA: kubeadm's upload-certs/join (copycerts) reads EC keys only in that form, and it carries
    // kk-action's etcd client key to joining control planes; a real v1.20.2 join failed with PKCS#8
    // ("error downloading certs: unknown data found in Secret entry").
    expect(ca.keyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END EC PRIVATE KEY-----\n$/)
    // the key is the CA's: openssl derives the same public key from both
    const fromKey = openssl('pkey', '-in', write('ca.key', ca.keyPem), '-pubout')
    const fromCert = openssl('x509', '-in', caFile, '-noout', '-pubkey')
    expect(fromKey).toBe(fromCert)
  })

  it('issues a peer certificate with DNS and IP SANs, serverAuth + clientAuth, CA:FALSE, 1 year', async () => {
    const peer = await issueCert(ca, {
      commonName: 'node1', dnsNames: ['node1', 'node1.cluster.local', 'localhost', 'node1'],
      ipAddresses: ['127.0.0.1', '10.10.0.2', '::1'], usages: ['peer'],
    })
    const file = write('peer.pem', peer.certPem)
    expect(openssl('verify', '-CAfile', caFile, file).trim()).toBe(`${file}: OK`)
    const text = openssl('x509', '-in', file, '-noout', '-text')
    expect(text).toContain('Subject: CN = node1')
    expect(text).toContain('Issuer: CN = etcd-ca')
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/)
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/)
    expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s+TLS Web Server Authentication, TLS Web Client Authentication/)
    expect(text).toMatch(/X509v3 Subject Alternative Name:\s*\n\s+DNS:node1, DNS:node1.cluster.local, DNS:localhost, IP Address:127.0.0.1, IP Address:10.10.0.2, IP Address:0:0:0:0:0:0:0:1\n/)
    expect(text).toContain('X509v3 Authority Key Identifier')
    expect(text).toContain('X509v3 Subject Key Identifier')
    expect(opensslOk('verify', '-CAfile', caFile, '-purpose', 'sslserver', file)).toBe(true)
    expect(opensslOk('verify', '-CAfile', caFile, '-purpose', 'sslclient', file)).toBe(true)
    expect((peer.notAfter.getTime() - peer.notBefore.getTime()) / DAY).toBe(LEAF_VALIDITY_DAYS)
    // openssl checks the key belongs to the certificate
    expect(openssl('pkey', '-in', write('peer.key', peer.keyPem), '-pubout')).toBe(openssl('x509', '-in', file, '-noout', '-pubkey'))
  })

  it('limits usages: a server certificate is not a client certificate and vice versa', async () => {
    const server = write('server.pem', (await issueCert(ca, { commonName: 's', dnsNames: ['s'], usages: ['server'] })).certPem)
    const client = write('client.pem', (await issueCert(ca, { commonName: 'root', organization: ['system:masters'], usages: ['client'] })).certPem)
    expect(opensslOk('verify', '-CAfile', caFile, '-purpose', 'sslserver', server)).toBe(true)
    expect(opensslOk('verify', '-CAfile', caFile, '-purpose', 'sslclient', server)).toBe(false)
    expect(opensslOk('verify', '-CAfile', caFile, '-purpose', 'sslclient', client)).toBe(true)
    expect(opensslOk('verify', '-CAfile', caFile, '-purpose', 'sslserver', client)).toBe(false)
    const text = openssl('x509', '-in', client, '-noout', '-text')
    expect(text).toContain('Subject: CN = root, O = system:masters')
    expect(text).not.toContain('Subject Alternative Name')
    expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s+TLS Web Client Authentication\n/)
  })

  it('a certificate from another CA does not verify', async () => {
    const other = await createCA('other-ca')
    const cert = write('foreign.pem', (await issueCert(other, { commonName: 'x', usages: ['server'] })).certPem)
    expect(opensslOk('verify', '-CAfile', caFile, cert)).toBe(false)
    expect(isIssuedBy(openssl('x509', '-in', cert), ca.certPem)).toBe(false)
  })

  it('RSA 2048 when asked, for the CA and the leaf', async () => {
    const rsa = await createCA('rsa-ca', { keyAlgorithm: 'rsa-2048' })
    const leaf = await issueCert(rsa, { commonName: 'r', ipAddresses: ['192.0.2.1'], usages: ['server'], keyAlgorithm: 'rsa-2048' })
    const caPem = write('rsa-ca.pem', rsa.certPem)
    const leafPem = write('rsa-leaf.pem', leaf.certPem)
    expect(opensslOk('verify', '-CAfile', caPem, leafPem)).toBe(true)
    const text = openssl('x509', '-in', leafPem, '-noout', '-text')
    expect(text).toContain('Public-Key: (2048 bit)')
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption')
    expect(text).toContain('IP Address:192.0.2.1')
  })

  it('rejects what is not an IP or DNS name, and empty usages', async () => {
    await expect(issueCert(ca, { commonName: 'x', ipAddresses: ['10.0.0.300'], usages: ['server'] })).rejects.toThrow(/not an IP/)
    await expect(issueCert(ca, { commonName: 'x', dnsNames: ['bad name'], usages: ['server'] })).rejects.toThrow(/not a DNS name/)
    await expect(issueCert(ca, { commonName: 'x', usages: [] })).rejects.toThrow(/at least one usage/)
  })

  it('never outlives its CA', async () => {
    const short = await createCA('short-ca', { validityDays: 30 })
    const leaf = await issueCert(short, { commonName: 'x', usages: ['server'] })
    expect(leaf.notAfter.getTime()).toBe(describeCert(short.certPem).notAfter.getTime())
  })
})

describe('loadCA', () => {
  it('loads CAs made by openssl (EC SEC1 and RSA PKCS#1 keys) and issues with them', async () => {
    for (const [kind, keyArgs] of [['ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']], ['rsa', ['-newkey', 'rsa:2048']]] as const) {
      const keyFile = join(dir, `ossl-${kind}.key`)
      const certFile = join(dir, `ossl-${kind}.pem`)
      openssl('req', '-x509', ...keyArgs, '-nodes', '-days', '30', '-subj', `/CN=ossl-${kind}`, '-keyout', keyFile, '-out', certFile)
      // traditional formats, as kubeadm and older tools write them
      const legacyKey = kind === 'ec' ? openssl('ec', '-in', keyFile) : openssl('rsa', '-in', keyFile, '-traditional')
      expect(legacyKey).toMatch(kind === 'ec' ? /BEGIN EC PRIVATE KEY/ : /BEGIN RSA PRIVATE KEY/)
      const ca = await loadCA(openssl('x509', '-in', certFile), legacyKey)
      const leaf = write(`ossl-${kind}-leaf.pem`, (await issueCert(ca, { commonName: 'leaf', dnsNames: ['leaf'], usages: ['client'] })).certPem)
      expect(opensslOk('verify', '-CAfile', certFile, leaf)).toBe(true)
    }
  })

  it('refuses a key that is not the CA certificate\'s, and a certificate that is not a CA', async () => {
    const a = await createCA('a')
    const b = await createCA('b')
    await expect(loadCA(a.certPem, b.keyPem)).rejects.toThrow(/does not belong/)
    const leaf = await issueCert(a, { commonName: 'leaf', usages: ['server'] })
    await expect(loadCA(leaf.certPem, leaf.keyPem)).rejects.toThrow(/not a CA/)
    const again = await loadCA(a.certPem, a.keyPem)
    expect(isIssuedBy((await issueCert(again, { commonName: 'x', usages: ['server'] })).certPem, a.certPem)).toBe(true)
  })
})

describe('certCovers (for idempotent reruns)', () => {
  it('is true while names, usages, issuer and time left all still fit', async () => {
    const ca = await createCA('ca')
    const cert = (await issueCert(ca, { commonName: 'n', dnsNames: ['n1'], ipAddresses: ['10.0.0.1', '2001:db8::1'], usages: ['peer'] })).certPem
    expect(certCovers(cert, ca.certPem, { dnsNames: ['n1'], ipAddresses: ['10.0.0.1', '2001:db8:0::1'], usages: ['server', 'client'] })).toBe(true)
    expect(certCovers(cert, ca.certPem, { dnsNames: ['n2'], usages: ['server'] })).toBe(false)
    expect(certCovers(cert, ca.certPem, { ipAddresses: ['10.0.0.2'], usages: ['server'] })).toBe(false)
    expect(certCovers(cert, (await createCA('ca')).certPem, { usages: ['server'] })).toBe(false)
    expect(certCovers(cert, ca.certPem, { usages: ['server'] }, 400)).toBe(false) // less than 400 days left
    const serverOnly = (await issueCert(ca, { commonName: 's', usages: ['server'] })).certPem
    expect(certCovers(serverOnly, ca.certPem, { usages: ['client'] })).toBe(false)
  })
})

// ---- etcd 3.4 (Debian's etcd-server / etcd-client) serving TLS with these certificates

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const haveEtcd = hasCommand('etcd') && hasCommand('etcdctl')

describe.skipIf(!haveEtcd)('etcd 3.4 serves mutual TLS with these certificates', () => {
  let etcd: ChildProcess | undefined
  let log = ''
  let clientUrl = ''
  const files: Record<string, string> = {}

  beforeAll(async () => {
    const ca = await createCA('etcd-ca')
    const member = await issueCert(ca, { commonName: 'etcd-1', dnsNames: ['localhost', 'etcd-1'], ipAddresses: ['127.0.0.1'], usages: ['peer'] })
    const admin = await issueCert(ca, { commonName: 'admin-etcd-1', usages: ['client'] })
    const serverOnly = await issueCert(ca, { commonName: 'not-a-client', ipAddresses: ['127.0.0.1'], usages: ['server'] })
    const other = await createCA('other-ca')
    const stranger = await issueCert(other, { commonName: 'stranger', usages: ['client'] })
    Object.assign(files, {
      ca: write('etcd-ca.pem', ca.certPem),
      memberCert: write('member.pem', member.certPem), memberKey: write('member-key.pem', member.keyPem),
      adminCert: write('admin.pem', admin.certPem), adminKey: write('admin-key.pem', admin.keyPem),
      serverOnlyCert: write('server-only.pem', serverOnly.certPem), serverOnlyKey: write('server-only-key.pem', serverOnly.keyPem),
      strangerCert: write('stranger.pem', stranger.certPem), strangerKey: write('stranger-key.pem', stranger.keyPem),
    })
    const clientPort = await freePort()
    const peerPort = await freePort()
    clientUrl = `https://127.0.0.1:${clientPort}`
    const peerUrl = `https://127.0.0.1:${peerPort}`
    etcd = spawn('etcd', [
      '--name', 'etcd-1', '--data-dir', join(dir, 'etcd-data'),
      '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `etcd-1=${peerUrl}`, '--initial-cluster-state', 'new', '--initial-cluster-token', 'kk-pki-test',
      '--cert-file', files.memberCert, '--key-file', files.memberKey, '--trusted-ca-file', files.ca, '--client-cert-auth',
      '--peer-cert-file', files.memberCert, '--peer-key-file', files.memberKey, '--peer-trusted-ca-file', files.ca,
      '--peer-client-cert-auth',
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    etcd.stdout?.on('data', (d: Buffer) => { log += d.toString() })
    etcd.stderr?.on('data', (d: Buffer) => { log += d.toString() })
    const deadline = Date.now() + 20_000
    while (!/ready to serve client requests/.test(log)) {
      if (etcd.exitCode !== null) throw new Error(`etcd exited ${etcd.exitCode}:\n${log}`)
      if (Date.now() > deadline) throw new Error(`etcd did not become ready:\n${log}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  afterAll(async () => {
    if (etcd && etcd.exitCode === null) {
      const exited = new Promise((r) => etcd!.once('exit', r))
      etcd.kill('SIGTERM')
      const timer = setTimeout(() => etcd?.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
  })

  const etcdctl = (cert: string, key: string, ...args: string[]) => run('etcdctl', [
    '--endpoints', clientUrl, '--cacert', files.ca, '--cert', cert, '--key', key,
    '--dial-timeout', '3s', '--command-timeout', '5s', ...args,
  ], { env: { ...process.env, ETCDCTL_API: '3' } })
  // a refused handshake only ends at the dial timeout: keep it short
  const refused = (cert: string, key: string) => run('etcdctl', [
    '--endpoints', clientUrl, '--cacert', files.ca, '--cert', cert, '--key', key,
    '--dial-timeout', '1s', '--command-timeout', '2s', 'endpoint', 'health',
  ], { env: { ...process.env, ETCDCTL_API: '3' } })

  it('etcdctl with a client certificate: endpoint health succeeds, a key round-trips', async () => {
    const health = await etcdctl(files.adminCert, files.adminKey, 'endpoint', 'health')
    expect(health.stdout + health.stderr).toMatch(/is healthy: successfully committed proposal/)
    await etcdctl(files.adminCert, files.adminKey, 'put', 'kk', 'action')
    const got = await etcdctl(files.adminCert, files.adminKey, 'get', 'kk', '--print-value-only')
    expect(got.stdout.trim()).toBe('action')
  })

  it('the member (peer) certificate also works as a client certificate', async () => {
    const health = await etcdctl(files.memberCert, files.memberKey, 'endpoint', 'health')
    expect(health.stdout + health.stderr).toMatch(/is healthy/)
  })

  it('a certificate without clientAuth, or from another CA, is refused', async () => {
    await expect(refused(files.serverOnlyCert, files.serverOnlyKey)).rejects.toThrow(/unhealthy|failed|deadline|error/i)
    await expect(refused(files.strangerCert, files.strangerKey)).rejects.toThrow(/unhealthy|failed|deadline|error/i)
    expect(log).toMatch(/rejected connection|bad certificate|unknown certificate authority|incompatible key usage/i)
  })
})
