/**
 * A small PKI for the certificates kk-action makes (etcd CA, member/admin/client certificates): built on
 * @peculiar/x509 with Node's WebCrypto, no hand-rolled ASN.1.
 *
 * Keys are ECDSA P-256 by default: a key pair takes well under a millisecond (RSA 2048 takes ~50-200 ms,
 * which adds up over CA + member + peer + client certs for every host), certificates are small, and
 * every consumer here supports it (etcd 3.4+/Go TLS, kubeadm external-etcd client certs, OpenSSL, curl).
 * RSA 2048 — kubeadm's own default and what KubeKey uses — is available with `keyAlgorithm: 'rsa-2048'`
 * for peers that insist on RSA.
 *
 * Validity follows kubeadm: CA 10 years, leaf certificates 1 year, both back-dated 5 minutes so a host
 * whose clock is a little behind still accepts them.
 *
 * Private keys are PEM in the form every reader takes: SEC1 ("BEGIN EC PRIVATE KEY") for ECDSA, PKCS#8 for
 * RSA. kubeadm's upload-certs/join (copycerts) reads EC keys only as SEC1, and it carries the etcd client key.
 * Existing CAs (PKCS#8, SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY") load with `loadCA`.
 */
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto'
import { isIP } from 'node:net'
import 'reflect-metadata' // before @peculiar/x509: its tsyringe container needs the Reflect metadata API at load time
import * as x509 from '@peculiar/x509'

// Node's WebCrypto types (the project's lib has no DOM types).
type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair
type Algorithm = webcrypto.Algorithm
type EcdsaParams = webcrypto.EcdsaParams
const crypto = webcrypto

export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-2048'
/** server: serverAuth; client: clientAuth; peer: both (etcd member-to-member traffic). */
export type CertUsage = 'server' | 'client' | 'peer'

export const CA_VALIDITY_DAYS = 3650
export const LEAF_VALIDITY_DAYS = 365
const BACKDATE_MS = 5 * 60 * 1000
const DAY_MS = 24 * 60 * 60 * 1000

export interface CertificateAuthority {
  certPem: string
  keyPem: string
  /** The parsed certificate and the private signing key (WebCrypto). */
  cert: x509.X509Certificate
  key: CryptoKey
}

export interface IssuedCert {
  certPem: string
  keyPem: string
  /** Hex serial number. */
  serialNumber: string
  notBefore: Date
  notAfter: Date
}

export interface CAOptions {
  keyAlgorithm?: KeyAlgorithm
  validityDays?: number
  organization?: string[]
  /** "now" for the validity window (tests). */
  now?: Date
}

export interface IssueOptions {
  commonName: string
  /** Subject O= values, e.g. ['system:masters'] for a Kubernetes admin client certificate. */
  organization?: string[]
  dnsNames?: string[]
  /** IPv4 or IPv6 literals. */
  ipAddresses?: string[]
  usages: CertUsage[]
  validityDays?: number
  keyAlgorithm?: KeyAlgorithm
  now?: Date
}

const ALGORITHMS: Record<KeyAlgorithm, { gen: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams; sign: Algorithm | EcdsaParams }> = {
  'ecdsa-p256': {
    gen: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
  },
  'rsa-2048': {
    gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
}

async function generateKeys(algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHMS[algorithm].gen, true, ['sign', 'verify']) as Promise<CryptoKeyPair>
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key)
  if (key.algorithm.name !== 'ECDSA') return x509.PemConverter.encode(der, 'PRIVATE KEY')
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }).export({ type: 'sec1', format: 'pem' }).toString().trimEnd()
}

/** A positive, non-zero 128-bit serial number in hex (RFC 5280: at most 20 octets, positive). */
function serialNumber(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0] & 0x7f) | 0x01
  return bytes.toString('hex')
}

/** A subject DN from CN and O values, escaped per RFC 4514. */
function subjectName(commonName: string, organization: string[] = []): string {
  const escape = (value: string): string => value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ')
  return [`CN=${escape(commonName)}`, ...organization.map((o) => `O=${escape(o)}`)].join(', ')
}

function signingAlgorithmOf(key: CryptoKey): Algorithm | EcdsaParams {
  return key.algorithm.name === 'ECDSA' ? ALGORITHMS['ecdsa-p256'].sign : ALGORITHMS['rsa-2048'].sign
}

function validity(now: Date, days: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(days) || days <= 0) throw new Error(`validity must be a positive number of days, got ${days}`)
  const notBefore = new Date(Math.floor((now.getTime() - BACKDATE_MS) / 1000) * 1000)
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) }
}

/** Creates a self-signed CA: basicConstraints CA:TRUE (critical), keyCertSign + cRLSign + digitalSignature. */
export async function createCA(commonName: string, options: CAOptions = {}): Promise<CertificateAuthority> {
  if (!commonName.trim()) throw new Error('a CA needs a common name')
  const keys = await generateKeys(options.keyAlgorithm ?? 'ecdsa-p256')
  const name = subjectName(commonName, options.organization)
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name,
    ...validity(options.now ?? new Date(), options.validityDays ?? CA_VALIDITY_DAYS),
    keys,
    signingAlgorithm: signingAlgorithmOf(keys.privateKey),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  }, crypto)
  return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) + '\n', cert, key: keys.privateKey }
}

/** Loads an existing CA (PEM certificate + PEM private key in PKCS#8, SEC1 or PKCS#1) and checks they belong together. */
export async function loadCA(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem)
  const basic = cert.getExtension(x509.BasicConstraintsExtension)
  if (!basic?.ca) throw new Error(`certificate "${cert.subject}" is not a CA (basicConstraints CA:TRUE missing)`)
  let nodeKey
  try {
    nodeKey = createPrivateKey(keyPem)
  } catch (error) {
    throw new Error(`cannot read the CA private key: ${(error as Error).message}`)
  }
  const certPublic = createPublicKey(new NodeX509(certPem).publicKey.export({ type: 'spki', format: 'pem' }))
  const keyPublic = createPublicKey(nodeKey)
  if (!certPublic.export({ type: 'spki', format: 'der' }).equals(keyPublic.export({ type: 'spki', format: 'der' }))) {
    throw new Error(`the CA private key does not belong to the CA certificate "${cert.subject}"`)
  }
  const pkcs8 = nodeKey.export({ type: 'pkcs8', format: 'der' })
  let algorithm: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams
  if (nodeKey.asymmetricKeyType === 'ec') {
    const curve = nodeKey.asymmetricKeyDetails?.namedCurve
    const named = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : undefined
    if (!named) throw new Error(`unsupported CA key curve ${curve}`)
    algorithm = { name: 'ECDSA', namedCurve: named }
  } else if (nodeKey.asymmetricKeyType === 'rsa') {
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
  } else {
    throw new Error(`unsupported CA key type ${nodeKey.asymmetricKeyType}`)
  }
  const key = await crypto.subtle.importKey('pkcs8', pkcs8, algorithm, true, ['sign'])
  return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(key) + '\n', cert, key }
}

function checkNames(dnsNames: string[], ipAddresses: string[]): void {
  for (const ip of ipAddresses) {
    if (!isIP(ip)) throw new Error(`"${ip}" is not an IP address`)
  }
  for (const dns of dnsNames) {
    if (!/^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/.test(dns) || dns.length > 253) {
      throw new Error(`"${dns}" is not a DNS name`)
    }
  }
}

/**
 * Issues a leaf certificate signed by `ca`: basicConstraints CA:FALSE (critical), keyUsage
 * digitalSignature + keyEncipherment (critical), extendedKeyUsage from `usages`, SANs from
 * `dnsNames` and `ipAddresses` (deduplicated), subject/authority key identifiers.
 */
export async function issueCert(ca: CertificateAuthority, options: IssueOptions): Promise<IssuedCert> {
  if (!options.commonName.trim()) throw new Error('a certificate needs a common name')
  if (options.usages.length === 0) throw new Error(`certificate "${options.commonName}" needs at least one usage (server, client, peer)`)
  const dnsNames = [...new Set(options.dnsNames ?? [])]
  const ipAddresses = [...new Set(options.ipAddresses ?? [])]
  checkNames(dnsNames, ipAddresses)
  const eku = new Set<string>()
  for (const usage of options.usages) {
    if (usage === 'server' || usage === 'peer') eku.add(x509.ExtendedKeyUsage.serverAuth)
    if (usage === 'client' || usage === 'peer') eku.add(x509.ExtendedKeyUsage.clientAuth)
  }
  const keys = await generateKeys(options.keyAlgorithm ?? 'ecdsa-p256')
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([...eku], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey, false, crypto),
  ]
  if (dnsNames.length || ipAddresses.length) {
    extensions.push(new x509.SubjectAlternativeNameExtension([
      ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ], false))
  }
  const window = validity(options.now ?? new Date(), options.validityDays ?? LEAF_VALIDITY_DAYS)
  const caNotAfter = ca.cert.notAfter
  const notAfter = window.notAfter > caNotAfter ? caNotAfter : window.notAfter
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: subjectName(options.commonName, options.organization),
    issuer: ca.cert.subjectName,
    notBefore: window.notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: signingAlgorithmOf(ca.key),
    extensions,
  }, crypto)
  return {
    certPem: cert.toString('pem') + '\n',
    keyPem: await privateKeyPem(keys.privateKey) + '\n',
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  }
}

export interface CertSummary {
  subject: string
  issuer: string
  isCA: boolean
  dnsNames: string[]
  ipAddresses: string[]
  usages: CertUsage[]
  notBefore: Date
  notAfter: Date
  serialNumber: string
}

/** What a PEM certificate says: for idempotent reruns (is the certificate on the host still what we want?). */
export function describeCert(certPem: string): CertSummary {
  const cert = new x509.X509Certificate(certPem)
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension)
  const names = san?.names.toJSON() ?? []
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String) ?? []
  const server = eku.includes(x509.ExtendedKeyUsage.serverAuth)
  const client = eku.includes(x509.ExtendedKeyUsage.clientAuth)
  const usages: CertUsage[] = server && client ? ['peer', 'server', 'client'] : server ? ['server'] : client ? ['client'] : []
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    isCA: cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false,
    dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === 'ip').map((n) => n.value),
    usages,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serialNumber: cert.serialNumber,
  }
}

/** True when `certPem` was signed by `caCertPem` and is valid at `at` (default now). */
export function isIssuedBy(certPem: string, caCertPem: string, at: Date = new Date()): boolean {
  const cert = new NodeX509(certPem)
  const ca = new NodeX509(caCertPem)
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false
  return new Date(cert.validFrom) <= at && at <= new Date(cert.validTo)
}

/**
 * True when an existing certificate (signed by `caCertPem`) still covers what `wanted` asks for:
 * every wanted DNS name and IP, the usages, and at least `minDaysLeft` (default 30) days of validity.
 */
export function certCovers(certPem: string, caCertPem: string, wanted: Pick<IssueOptions, 'dnsNames' | 'ipAddresses' | 'usages'>,
  minDaysLeft = 30, now: Date = new Date()): boolean {
  let summary: CertSummary
  try {
    if (!isIssuedBy(certPem, caCertPem, now)) return false
    summary = describeCert(certPem)
  } catch {
    return false
  }
  const ips = new Set(summary.ipAddresses.map(normalizeIp))
  return (wanted.dnsNames ?? []).every((d) => summary.dnsNames.includes(d)) &&
    (wanted.ipAddresses ?? []).every((ip) => ips.has(normalizeIp(ip))) &&
    wanted.usages.every((u) => summary.usages.includes(u)) &&
    summary.notAfter.getTime() - now.getTime() >= minDaysLeft * DAY_MS
}

function normalizeIp(ip: string): string {
  if (isIP(ip) !== 6) return ip
  // expand and re-compress via URL parsing, which normalizes IPv6 literals
  return new URL(`http://[${ip}]/`).hostname
}
