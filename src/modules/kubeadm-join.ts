/**
 * What kubeadm-init hands to the join modules, and the join itself: credentials from `kubeadm init`'s output
 * (or fresh ones from the first control plane on a rerun), one JoinConfiguration per host.
 */
import type { ClusterConfig, Host } from '../config/types.js'
import { sh } from '../nodes/quote.js'
import type { PlanContext } from '../plan/types.js'
import type { Task, TaskContext } from '../pipeline/types.js'
import {
  controlPlaneEndpoint, KUBEADM, KUBEADM_CONFIG_FILE, KUBEADM_JOIN_FILE, KUBELET_CONF, renderJoinConfig, type JoinCredentials,
} from './kubeadm-config.js'
import { ENDPOINT_PROBE, kubeadmError, readKubeadmFailure, unreachableEndpoint } from './kubeadm-errors.js'
import { placeholder, type NodeFile } from './module.js'
import { writeKubeletPullCredentials } from './runtime-service.js'
import { putNodeFile } from './steps.js'

/** `t.shared` key of the JoinCredentials (without a certificate key when only workers need them). */
export const JOIN_CREDENTIALS_KEY = 'kubeadm-join-credentials'

const TOKEN = /--token\s+([a-z0-9]{6}\.[a-z0-9]{16})\b/
const CA_HASH = /--discovery-token-ca-cert-hash\s+(sha256:[0-9a-f]{64})\b/
const CERTIFICATE_KEY_FLAG = /--certificate-key\s+([0-9a-f]{64})\b/
const CERTIFICATE_KEY_LINE = /^\s*([0-9a-f]{64})\s*$/m

/** Token, CA hash and certificate key from the join commands `kubeadm init --upload-certs` prints. */
export function parseInitOutput(output: string, apiServerEndpoint: string): JoinCredentials {
  const token = TOKEN.exec(output)?.[1]
  const caCertHash = CA_HASH.exec(output)?.[1]
  if (!token || !caCertHash) throw new Error('kubeadm init succeeded but printed no join command (token and CA hash) to read')
  const certificateKey = CERTIFICATE_KEY_FLAG.exec(output)?.[1]
  return { apiServerEndpoint, token, caCertHash, ...(certificateKey ? { certificateKey } : {}) }
}

/** `kubeadm token create --print-join-command` → token and CA hash. */
export function parseJoinCommand(output: string, apiServerEndpoint: string): JoinCredentials {
  const token = TOKEN.exec(output)?.[1]
  const caCertHash = CA_HASH.exec(output)?.[1]
  if (!token || !caCertHash) throw new Error(`kubeadm token create printed no join command: ${output.trim().split('\n').pop() ?? ''}`)
  return { apiServerEndpoint, token, caCertHash }
}

/** `kubeadm init phase upload-certs --upload-certs` prints the key on a line of its own. */
export function parseCertificateKey(output: string): string {
  const key = CERTIFICATE_KEY_LINE.exec(output)?.[1]
  if (!key) throw new Error('kubeadm init phase upload-certs printed no certificate key')
  return key
}

export function registerCredentials(t: TaskContext, credentials: JoinCredentials): void {
  t.secret(credentials.token)
  if (credentials.certificateKey) t.secret(credentials.certificateKey)
  t.shared.set(JOIN_CREDENTIALS_KEY, credentials)
}

/** The join credentials as render shows them: `kubeadm init` makes them during the deploy. */
export const CREDENTIAL_PLACEHOLDERS = {
  token: placeholder("bootstrap token: from kubeadm init's output during the deploy"),
  caCertHash: placeholder('sha256 of the cluster CA public key: from kubeadm init during the deploy'),
  certificateKey: placeholder('certificate key of kubeadm init --upload-certs during the deploy'),
} as const

export function credentialPlaceholders(config: ClusterConfig): JoinCredentials {
  return { apiServerEndpoint: controlPlaneEndpoint(config), ...CREDENTIAL_PLACEHOLDERS }
}

/** The JoinConfiguration (with the token and, for control planes, the certificate key): a secret. */
export function joinConfigFile(config: ClusterConfig, host: Host, credentials: JoinCredentials, controlPlane: boolean): NodeFile {
  return { path: KUBEADM_JOIN_FILE, mode: 0o600, secret: true, content: renderJoinConfig(config, host, credentials, controlPlane) }
}

/** What a join module lists for render. */
export function joinFiles(config: ClusterConfig, host: Host, controlPlane: boolean): NodeFile[] {
  return [{ ...joinConfigFile(config, host, credentialPlaceholders(config), controlPlane), note: 'removed again once kubeadm join has run' }]
}

function sharedCredentials(t: TaskContext): JoinCredentials | undefined {
  return t.shared.get(JOIN_CREDENTIALS_KEY) as JoinCredentials | undefined
}

/** Hosts of one join module, and which of them still have to join; shared by its tasks. */
class JoinRun {
  readonly pending = new Set<string>()
  constructor(readonly ctx: PlanContext, readonly controlPlane: boolean) {}
}

/** Whether the host is already a node: kubeadm join leaves kubelet.conf, and refuses to run again over it. */
async function findPending(run: JoinRun, t: TaskContext): Promise<void> {
  const joined = await t.exec(sh`test -f ${KUBELET_CONF}`, { allowFailure: true })
  if (joined.code !== 0) run.pending.add(t.host.name)
  else t.log(`${t.host.name} has ${KUBELET_CONF}: already joined`)
}

/**
 * On the first control plane, only when someone must join and this run's init left no credentials (a rerun):
 * a new token (24h) and, for control planes, certificates uploaded again under a new key (2h).
 */
async function refreshCredentials(run: JoinRun, t: TaskContext): Promise<void> {
  const known = sharedCredentials(t)
  if (known && (!run.controlPlane || known.certificateKey)) return
  const endpoint = controlPlaneEndpoint(t.config)
  const fresh = known ?? parseJoinCommand((await t.exec(sh`${KUBEADM} token create --print-join-command`)).stdout, endpoint)
  t.secret(fresh.token)
  if (run.controlPlane) {
    const upload = await t.exec(sh`${KUBEADM} init phase upload-certs --upload-certs --config ${KUBEADM_CONFIG_FILE}`)
    fresh.certificateKey = parseCertificateKey(upload.stdout)
  }
  registerCredentials(t, { ...fresh, apiServerEndpoint: endpoint })
  t.changed()
}

/** kubeadm join through a JoinConfiguration (CRI socket, node name); a failed attempt is reset before the retry. */
async function join(run: JoinRun, t: TaskContext): Promise<void> {
  const credentials = sharedCredentials(t)
  if (!credentials) throw new Error('no join credentials: kubeadm-init did not run or left none')
  await expectApiserver(t, credentials.apiServerEndpoint)
  await putNodeFile(t, joinConfigFile(t.config, t.host, credentials, run.controlPlane))
  const joined = await t.exec(sh`${KUBEADM} join --config ${KUBEADM_JOIN_FILE}`, { allowFailure: true, timeoutMs: 10 * 60_000 })
  // The file holds the token (and the certificate key): it has done its job either way.
  await t.exec(sh`rm -f ${KUBEADM_JOIN_FILE}`)
  t.changed()
  if (joined.code !== 0) {
    const failure = readKubeadmFailure(joined.stderr, joined.stdout)
    if (!failure.preflight) await resetForRetry(t, writeKubeletPullCredentials)
    throw kubeadmError('join', t.host.name, failure, credentials.apiServerEndpoint, !failure.preflight)
  }
  run.pending.delete(t.host.name)
}

const ENDPOINT_WAIT_MS = 60_000

/**
 * Before a join: an apiserver must answer at the discovery endpoint from this host (a minute for one that is
 * starting). Otherwise kubeadm join waits out its discovery timeout (5 minutes) and fails the same way again.
 */
async function expectApiserver(t: TaskContext, endpoint: string): Promise<void> {
  const started = Date.now()
  for (;;) {
    const probe = await t.exec(sh`sh -c ${ENDPOINT_PROBE} ${endpoint}`, { allowFailure: true, timeoutMs: 30_000 })
    if (probe.code === 0 || probe.code > 2) return
    if (Date.now() - started > ENDPOINT_WAIT_MS) {
      throw unreachableEndpoint(t.host.name, endpoint, probe.stdout.trim() || undefined, Math.round((Date.now() - started) / 1000))
    }
    await new Promise((resolve) => setTimeout(resolve, 3000))
  }
}

/**
 * `kubeadm reset -f` after a failed init or join, so the retry starts from a clean node; it empties
 * /etc/kubernetes/manifests and /var/lib/kubelet, so `restore` puts back what kk-action had written there.
 */
export async function resetForRetry(t: TaskContext, restore: (t: TaskContext) => Promise<void>): Promise<void> {
  await t.exec(sh`${KUBEADM} reset -f`, { allowFailure: true, timeoutMs: 5 * 60_000 })
  await restore(t)
}

/** The join module's tasks: find who must join, make credentials if needed, join (control planes one by one). */
export function joinTasks(ctx: PlanContext, controlPlane: boolean): Task[] {
  const run = new JoinRun(ctx, controlPlane)
  const step = (fn: (run: JoinRun, t: TaskContext) => Promise<void>) => (t: TaskContext) => fn(run, t)
  const pendingOf = (hosts: Host[]) => hosts.filter((host) => run.pending.has(host.name))
  return [
    { name: 'find hosts that have not joined', run: step(findPending) },
    {
      name: controlPlane ? 'create a join token and upload certificates' : 'create a join token',
      hosts: () => (run.pending.size ? [ctx.firstControlPlane] : []),
      retries: 2,
      run: step(refreshCredentials),
    },
    {
      name: controlPlane ? 'join control plane' : 'join worker',
      serial: controlPlane,
      hosts: pendingOf,
      retries: 1,
      retryDelayMs: 5000,
      timeoutMs: 15 * 60_000,
      run: step(join),
    },
  ]
}
