import { kubernetesMinor } from '../artifacts/catalog.js'
import type { ClusterConfig, Host } from '../config/types.js'
import { UserError } from '../errors.js'
import { sh } from '../nodes/quote.js'
import type { PlanContext } from '../plan/types.js'
import type { Task, TaskContext } from '../pipeline/types.js'
import { certFiles, clientUrl, etcdPorts } from './etcd-config.js'
import { ETCD_SHARED_KEY, etcdPkiPlaceholders, type EtcdClientInfo } from './etcd.js'
import { ADMIN_KUBECTL } from './addons-commands.js'
import {
  ADMIN_CONF, controlPlaneEndpoint, KUBEADM, KUBEADM_CONFIG_FILE, renderInitConfig, type ExternalEtcd,
} from './kubeadm-config.js'
import { kubeadmError, readKubeadmFailure } from './kubeadm-errors.js'
import { parseInitOutput, registerCredentials, resetForRetry } from './kubeadm-join.js'
import { kubeVipBackToAdminConf, kubeVipNeedsSuperAdmin } from './lb-kube-vip.js'
import { writeKubeletPullCredentials } from './runtime-service.js'
import { writeKubeVip } from './load-balancer.js'
import { alwaysRuns, defineModule, nothingNeeded, type NodeFile } from './module.js'
import { putFiles, putNodeFile } from './steps.js'
import type { KubeadmImages } from './runtime-images.js'

const APISERVER_WAIT_MS = 60_000

/** Facts of one run of the module, shared by its tasks. */
class InitRun {
  /** admin.conf exists and the API server answers: nothing to initialise. */
  clusterHealthy = false
  constructor(readonly ctx: PlanContext) {}
}

/**
 * The external etcd kube-apiserver uses: kk-action's own (etcd.type kubekey, certificates of the node-<host> client
 * pair the etcd module issued for this control plane) or the user's (etcd.type external).
 */
function externalEtcd(config: ClusterConfig, host: Host): ExternalEtcd | undefined {
  const { etcd } = config
  if (etcd.type === 'kubeadm') return undefined
  if (etcd.type === 'external') {
    const external = etcd.external
    if (!external?.endpoints.length) {
      throw new UserError('etcd.type is external but etcd.external.endpoints is empty', { file: config.file, field: 'spec.etcd.external.endpoints' },
        'List the https:// client URLs of the etcd members, with caFile, certFile and keyFile')
    }
    return { endpoints: external.endpoints, caFile: external.caFile ?? '', certFile: external.certFile ?? '', keyFile: external.keyFile ?? '' }
  }
  // The etcd module's endpoints (EtcdClientInfo.endpoints): every etcd host's client URL.
  const endpoints = config.hosts.filter((h) => h.roles.includes('etcd')).map((h) => clientUrl(h, etcdPorts(config)))
  return { endpoints, caFile: certFiles.ca, certFile: certFiles.node(host.name), keyFile: certFiles.nodeKey(host.name) }
}

/** /etc/kubernetes/kubeadm-config.yaml of the first control plane. */
export function initConfigFile(config: ClusterConfig, host: Host, images?: KubeadmImages): NodeFile {
  return { path: KUBEADM_CONFIG_FILE, mode: 0o600, content: renderInitConfig(config, host, externalEtcd(config, host), images) }
}

function etcdInfo(t: TaskContext): EtcdClientInfo {
  const info = t.shared.get(ETCD_SHARED_KEY) as EtcdClientInfo | undefined
  if (!info) throw new Error('etcd.type is kubekey but the etcd module left no endpoints and certificates (was it skipped?)')
  return info
}

/** A control plane that is not an etcd host has none of the etcd client files kube-apiserver needs: put them there. */
async function installEtcdClientFiles(t: TaskContext): Promise<void> {
  if (t.config.etcd.type !== 'kubekey') return
  const info = etcdInfo(t)
  const client = info.clients[t.host.name]
  if (!client) throw new Error(`the etcd module issued no client certificate for ${t.host.name}`)
  const dir = certFiles.ca.slice(0, certFiles.ca.lastIndexOf('/'))
  const base = (path: string) => path.slice(dir.length + 1)
  await t.exec(sh`install -d -m 0700 ${dir}`)
  await putFiles(t, dir, new Map([
    [base(info.caFile), { content: info.caPem, mode: 0o644 }],
    [base(client.certFile), { content: client.certPem, mode: 0o644 }],
    [base(client.keyFile), { content: client.keyPem, mode: 0o600 }],
  ]))
}

async function apiserverAnswers(t: TaskContext): Promise<boolean> {
  const health = await t.exec(sh`${ADMIN_KUBECTL} --request-timeout=10s get --raw /healthz`, { allowFailure: true, timeoutMs: 30_000 })
  return health.code === 0
}

/**
 * An existing admin.conf means a cluster was made here. Its API server gets a minute (a reboot, a slow
 * start); if it still does not answer, stop: `kubeadm init` would fail on it and a reset would destroy it.
 */
async function inspectCluster(run: InitRun, t: TaskContext): Promise<void> {
  const admin = await t.exec(sh`test -f ${ADMIN_CONF}`, { allowFailure: true })
  if (admin.code !== 0) return
  const deadline = Date.now() + APISERVER_WAIT_MS
  while (!(await apiserverAnswers(t))) {
    if (Date.now() > deadline) {
      throw new UserError(`${ADMIN_CONF} exists on ${t.host.name} but the API server has not answered for ${APISERVER_WAIT_MS / 1000}s`,
        { host: t.host.name },
        'A cluster was initialised here before and is not healthy: repair it (journalctl -u kubelet, crictl ps -a), or remove it with `kk-action delete` before deploying again')
    }
    await new Promise((resolve) => setTimeout(resolve, 3000))
  }
  run.clusterHealthy = true
  t.log(`the API server answers with ${ADMIN_CONF}: the cluster exists, kubeadm init is not run`)
}

async function writeConfig(run: InitRun, t: TaskContext): Promise<void> {
  await installEtcdClientFiles(t)
  // plan.images is the plan's image decision; a context without a plan (scripted unit tests) gets the same one from the config.
  const changed = await putNodeFile(t, initConfigFile(t.config, t.host, t.plan?.images))
  if (changed && run.clusterHealthy) {
    t.warn(`${KUBEADM_CONFIG_FILE} changed on ${t.host.name}, but the cluster exists: kubeadm init is not run again, ` +
      'so changes to the cluster, kubelet and kube-proxy configuration are not applied to it')
  }
}

/** `kubeadm init --upload-certs`; a failed attempt is reset, so the retry starts from a clean node. */
async function init(run: InitRun, t: TaskContext): Promise<void> {
  if (run.clusterHealthy) return
  const result = await t.exec(sh`${KUBEADM} init --config ${KUBEADM_CONFIG_FILE} --upload-certs`, { allowFailure: true, timeoutMs: 15 * 60_000 })
  t.changed()
  if (result.code !== 0) {
    const failure = readKubeadmFailure(result.stderr, result.stdout)
    // A refused preflight changed nothing; anything later is undone, and the reset's victims put back.
    if (!failure.preflight) await resetForRetry(t, restoreInitFiles)
    throw kubeadmError('init', t.host.name, failure, controlPlaneEndpoint(t.config), !failure.preflight)
  }
  registerCredentials(t, parseInitOutput(result.stdout, controlPlaneEndpoint(t.config)))
  run.clusterHealthy = await apiserverAnswers(t)
  if (!run.clusterHealthy) throw new Error(`kubeadm init finished on ${t.host.name} but the API server does not answer with ${ADMIN_CONF}`)
}

/** What `kubeadm reset` deletes that init needs: the pull credentials, kube-vip's manifest (the VIP init waits on). */
async function restoreInitFiles(t: TaskContext): Promise<void> {
  await writeKubeletPullCredentials(t)
  if (t.config.controlPlaneEndpoint.internalLoadbalancer === 'kube-vip') await writeKubeVip(t)
}

function initTasks(ctx: PlanContext): Task[] {
  const run = new InitRun(ctx)
  const step = (fn: (run: InitRun, t: TaskContext) => Promise<void>) => (t: TaskContext) => fn(run, t)
  return [
    { name: 'look for an existing cluster', timeoutMs: 3 * 60_000, run: step(inspectCluster) },
    { name: 'write the kubeadm configuration', retries: 2, run: step(writeConfig) },
    // kube-vip answers on the VIP the domain points at while init runs, so its manifest comes first.
    ...(ctx.config.controlPlaneEndpoint.internalLoadbalancer === 'kube-vip' ? [{ name: 'kube-vip static pod', retries: 2, run: writeKubeVip }] : []),
    { name: 'kubeadm init', retries: 1, retryDelayMs: 5000, timeoutMs: 20 * 60_000, run: step(init) },
    ...(kubeVipNeedsSuperAdmin(ctx.config, Number(kubernetesMinor(ctx.config.kubernetes.version).split('.')[1]))
      ? [{ name: 'kube-vip reads admin.conf after init', retries: 2, run: kubeVipBackToAdminConf }]
      : []),
  ]
}

/** `kubeadm init` on the first control-plane host. */
export const kubeadmInit = defineModule({
  id: 'kubeadm-init',
  hosts: (ctx) => [ctx.firstControlPlane],
  skip: alwaysRuns,
  needs: nothingNeeded,
  tasks: initTasks,
  files: (ctx, host) => {
    // The etcd client pair kube-apiserver reads; on etcd hosts the etcd module has written it already.
    const client = new Set([certFiles.ca, certFiles.node(host.name), certFiles.nodeKey(host.name)])
    const etcdFiles = ctx.config.etcd.type === 'kubekey'
      ? etcdPkiPlaceholders(ctx.hostsWithRole('etcd'), ctx.hostsWithRole('control-plane'), (path) => client.has(path))
      : []
    return [...etcdFiles, initConfigFile(ctx.config, host, ctx.images)]
  },
})
