/**
 * What the etcd module asks a node: its etcd state, the PEM files it holds (private keys encrypted in
 * transit, because every output line of a command lands in the run's logs), and etcdctl over TLS.
 */
import { createDecipheriv, pbkdf2Sync, randomBytes } from 'node:crypto'
import type { Host } from '../config/types.js'
import { sh, type Command } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { certFiles, ETCD_CERT_DIR, ETCD_ENV_FILE, ETCDCTL } from './etcd-config.js'
import { RESTART_PENDING_DIR } from './steps.js'

/** What a node says about its etcd before anything is changed. */
export interface MemberState {
  /** sha256 of its ca.pem, when it has one. */
  caSha256?: string
  /** Its data directory holds a member (etcd ran there before). */
  hasData: boolean
  active: boolean
  /** An earlier run changed what this member reads and did not get to restart it. */
  restartPending: boolean
  /** Values of its current /etc/etcd.env, when there is one. */
  env: { name?: string; state?: string; initialCluster?: string }
}

const INSPECT = `set -e
ca=$1/ca.pem data=$2 env=$3 pending=$4
if [ -e "$pending" ]; then echo pending=yes; fi
if [ -f "$ca" ]; then sum=$(sha256sum < "$ca"); echo "ca=\${sum%% *}"; fi
if [ -d "$data/member" ]; then echo data=yes; else echo data=no; fi
echo "active=$(systemctl is-active etcd 2>/dev/null || true)"
if [ -f "$env" ]; then grep -E '^ETCD_(NAME|INITIAL_CLUSTER|INITIAL_CLUSTER_STATE)=' "$env" | sed 's/^/env./' || true; fi`

export async function inspectMember(t: TaskContext): Promise<MemberState> {
  const pending = `${RESTART_PENDING_DIR}/etcd`
  const result = await t.exec(sh`sh -c ${INSPECT} kk-etcd-inspect ${ETCD_CERT_DIR} ${t.config.etcd.dataDir} ${ETCD_ENV_FILE} ${pending}`)
  const values = new Map(result.stdout.split('\n').filter((line) => line.includes('='))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1).trim()] as const))
  return {
    caSha256: values.get('ca'),
    hasData: values.get('data') === 'yes',
    active: values.get('active') === 'active',
    restartPending: values.get('pending') === 'yes',
    env: {
      name: values.get('env.ETCD_NAME'),
      state: values.get('env.ETCD_INITIAL_CLUSTER_STATE'),
      initialCluster: values.get('env.ETCD_INITIAL_CLUSTER'),
    },
  }
}

// Each *.pem as "name base64" on one line; the whole listing is encrypted with a one-time passphrase
// that reaches openssl on fd 3 (a copy of stdin), so neither the command line nor the output reveals a key.
const READ_PEMS = `set -e
cd "$1"
{ for f in *.pem; do
    [ -f "$f" ] || continue
    printf '%s ' "$f"; base64 -w0 < "$f"; echo
  done | openssl enc -aes-256-cbc -pbkdf2 -iter 10000 -md sha256 -salt -pass fd:3 | base64 -w0; } 3<&0
echo`

/** Every PEM file of the node's etcd certificate directory, by file name. */
export async function readPemFiles(t: TaskContext): Promise<Map<string, string>> {
  const passphrase = randomBytes(32).toString('hex')
  const result = await t.exec(sh`sh -c ${READ_PEMS} kk-etcd-read ${ETCD_CERT_DIR}`, { stdin: `${passphrase}\n` })
  const listing = decryptOpensslEnc(Buffer.from(result.stdout.trim(), 'base64'), passphrase).toString('utf8')
  const files = new Map<string, string>()
  for (const line of listing.split('\n')) {
    const space = line.indexOf(' ')
    if (space > 0) files.set(line.slice(0, space), Buffer.from(line.slice(space + 1), 'base64').toString('utf8'))
  }
  return files
}

/** `openssl enc -aes-256-cbc -pbkdf2 -iter 10000 -md sha256 -salt` output: "Salted__", 8 bytes salt, ciphertext. */
export function decryptOpensslEnc(data: Buffer, passphrase: string): Buffer {
  if (data.length < 16 || data.subarray(0, 8).toString('latin1') !== 'Salted__') {
    throw new Error('the node did not send an encrypted listing (is openssl installed there?)')
  }
  const salt = data.subarray(8, 16)
  const material = pbkdf2Sync(passphrase, salt, 10000, 48, 'sha256')
  const decipher = createDecipheriv('aes-256-cbc', material.subarray(0, 32), material.subarray(32, 48))
  return Buffer.concat([decipher.update(data.subarray(16)), decipher.final()])
}

/** etcdctl (API v3) against `endpoints`, authenticated with `host`'s admin certificate. */
export function etcdctl(host: Host, endpoints: string[], args: string[]): Command {
  return sh`ETCDCTL_API=3 ${ETCDCTL} --endpoints=${endpoints.join(',')} --cacert=${certFiles.ca} --cert=${certFiles.admin(host.name)} --key=${certFiles.adminKey(host.name)} --dial-timeout=5s --command-timeout=10s ${args}`
}

export interface Member {
  id: string
  started: boolean
  /** Empty for a member that was added but never started. */
  name: string
  peerUrls: string[]
  clientUrls: string[]
}

/**
 * Parses `etcdctl member list` (simple format: id, status, name, peer URLs, client URLs[, is learner]).
 * etcdctl joins the fields with ", " and a member's URLs with a bare ",".
 */
export function parseMemberList(stdout: string): Member[] {
  const urls = (field: string | undefined) => (field ?? '').split(',').map((url) => url.trim()).filter(Boolean)
  return stdout.split('\n').filter((line) => line.trim()).map((line) => {
    const [id, status, name, peers, clients] = line.trim().split(', ').map((field) => field.trim())
    return { id, started: status === 'started', name, peerUrls: urls(peers), clientUrls: urls(clients) }
  })
}

export async function listMembers(t: TaskContext, endpoints: string[]): Promise<Member[]> {
  const result = await t.exec(etcdctl(t.host, endpoints, ['member', 'list']))
  return parseMemberList(result.stdout)
}

/** Polls `check` until it returns undefined (done) or `timeoutMs` passes; then throws with its last complaint. */
export async function waitUntil(check: () => Promise<string | undefined>, timeoutMs: number, intervalMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const complaint = await check()
    if (complaint === undefined) return
    if (Date.now() >= deadline) throw new Error(`${complaint} (gave up after ${Math.round(timeoutMs / 1000)}s)`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
