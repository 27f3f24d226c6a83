/**
 * The etcd PKI in KubeKey's layout: one CA per cluster, and per etcd host a member (server + peer) and an
 * admin (client) certificate, per control-plane host a node (client) certificate for kube-apiserver.
 * Generated on the runner; what the nodes already hold is kept while it is still right.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { posix } from 'node:path'
import type { Host } from '../config/types.js'
import { certCovers, createCA, issueCert, loadCA, type CertificateAuthority, type CertUsage } from '../pki/certs.js'
import { certFiles } from './etcd-config.js'

export interface CertSpec {
  /** File names under /etc/ssl/etcd/ssl. */
  certFile: string
  keyFile: string
  commonName: string
  usages: CertUsage[]
  dnsNames: string[]
  ipAddresses: string[]
}

/** The certificate directory's content: file name → PEM. */
export type PemFiles = Map<string, string>

export interface EtcdPki {
  files: PemFiles
  /** File names (re)issued in this run; empty when everything on the nodes was still right. */
  issued: string[]
  createdCA: boolean
}

const CA_CERT = posix.basename(certFiles.ca)
const CA_KEY = posix.basename(certFiles.caKey)

/** A host's names and addresses, plus loopback, so clients on the node itself can use the same certificate. */
function hostNames(host: Host): Pick<CertSpec, 'dnsNames' | 'ipAddresses'> {
  const ipAddresses = [...new Set([host.internalAddress, host.address, '127.0.0.1', '::1'].filter(Boolean))]
  return { dnsNames: [...new Set([host.name, 'localhost'])], ipAddresses }
}

const KEY_FILE = { member: certFiles.memberKey, admin: certFiles.adminKey, node: certFiles.nodeKey }

function spec(kind: 'member' | 'admin' | 'node', host: Host, usages: CertUsage[]): CertSpec {
  return {
    certFile: posix.basename(certFiles[kind](host.name)),
    keyFile: posix.basename(KEY_FILE[kind](host.name)),
    commonName: `etcd-${kind}-${host.name}`,
    usages,
    ...hostNames(host),
  }
}

/** Every certificate the cluster needs, in a stable order. */
export function wantedCerts(etcdHosts: Host[], controlPlanes: Host[]): CertSpec[] {
  return [
    ...etcdHosts.flatMap((host) => [spec('member', host, ['peer']), spec('admin', host, ['client'])]),
    ...controlPlanes.map((host) => spec('node', host, ['client'])),
  ]
}

/**
 * The PKI for this run: the existing CA when `existing` has one (never replaced), else a new one;
 * existing certificates kept when signed by that CA, covering the wanted names and usages, matching
 * their key and valid for 30 more days; everything else issued now.
 */
export async function preparePki(existing: PemFiles, wanted: CertSpec[]): Promise<EtcdPki> {
  const files: PemFiles = new Map()
  const issued: string[] = []
  const ca = await certificateAuthority(existing)
  files.set(CA_CERT, ca.authority.certPem)
  files.set(CA_KEY, ca.authority.keyPem)
  if (ca.created) issued.push(CA_CERT, CA_KEY)
  for (const cert of wanted) {
    const certPem = existing.get(cert.certFile)
    const keyPem = existing.get(cert.keyFile)
    if (certPem && keyPem && stillRight(certPem, keyPem, ca.authority.certPem, cert)) {
      files.set(cert.certFile, certPem)
      files.set(cert.keyFile, keyPem)
      continue
    }
    const fresh = await issueCert(ca.authority, {
      commonName: cert.commonName, usages: cert.usages, dnsNames: cert.dnsNames, ipAddresses: cert.ipAddresses,
    })
    files.set(cert.certFile, fresh.certPem)
    files.set(cert.keyFile, fresh.keyPem)
    issued.push(cert.certFile, cert.keyFile)
  }
  return { files, issued, createdCA: ca.created }
}

async function certificateAuthority(existing: PemFiles): Promise<{ authority: CertificateAuthority; created: boolean }> {
  const certPem = existing.get(CA_CERT)
  const keyPem = existing.get(CA_KEY)
  if (certPem && keyPem) return { authority: await loadCA(certPem, keyPem), created: false }
  if (certPem || keyPem) {
    throw new Error(`the node has ${certPem ? CA_CERT : CA_KEY} but not ${certPem ? CA_KEY : CA_CERT} in ${posix.dirname(certFiles.ca)}; ` +
      'restore the missing file, or remove both to let kk-action create a new etcd CA (every member certificate is then reissued)')
  }
  return { authority: await createCA('etcd-ca'), created: true }
}

function stillRight(certPem: string, keyPem: string, caPem: string, wanted: CertSpec): boolean {
  return certCovers(certPem, caPem, wanted) && keyMatches(certPem, keyPem)
}

function keyMatches(certPem: string, keyPem: string): boolean {
  try {
    const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' })
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' })
    return fromCert.equals(fromKey)
  } catch {
    return false
  }
}

/** Every file of the certificate directory, in a stable order: the CA, then each wanted certificate and key. */
export function pkiFileNames(wanted: CertSpec[]): string[] {
  return [CA_CERT, CA_KEY, ...wanted.flatMap((cert) => [cert.certFile, cert.keyFile])]
}

/** Private keys are the files named *-key.pem. */
export function isPrivateKey(fileName: string): boolean {
  return fileName.endsWith('-key.pem')
}
