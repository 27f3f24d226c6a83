import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { stringify } from 'yaml'
import { UserError } from '../errors.js'
import { sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import type { PlanContext } from '../plan/types.js'
import { ADMIN_CONF, ADMIN_KUBECTL, HELM, ensureNamespace } from './addons-commands.js'
import { installHelm } from './helm.js'
import { defineModule, type NodeFile } from './module.js'
import { networkRelease, type NetworkPlugin, type NetworkRelease, type Workload } from './network-render.js'
import { installBinary, putNodeFile } from './steps.js'

/** Where the chart, its values and the record of what was applied are kept on the first control plane. */
export const NETWORK_DIR = '/etc/kubekey/network'
const CALICOCTL = '/usr/local/bin/calicoctl'
const ROLLOUT_TIMEOUT_SECONDS = 600
const POLL_MS = 5000

const pluginOf = (ctx: PlanContext) => ctx.config.network.plugin as NetworkPlugin

/**
 * The CNI plugin: its publisher's chart, verified like every artifact, installed with helm from the first
 * control plane with the config's pod CIDR and modes, then its workloads' rollout awaited.
 */
export const network = defineModule({
  id: 'network',
  hosts: (ctx) => [ctx.firstControlPlane],
  skip: ({ config }) => (config.network.plugin === 'none' ? 'network.plugin is none' : undefined),
  needs: (ctx) => ['helm', pluginOf(ctx), ...(pluginOf(ctx) === 'calico' ? ['calicoctl' as const] : [])],
  tasks: (ctx) => {
    const release = networkRelease(ctx.config, pluginOf(ctx))
    return [
      { name: 'install helm', retries: 2, timeoutMs: 5 * 60_000, run: installHelm },
      ...(release.plugin === 'calico'
        ? [{ name: 'install calicoctl', retries: 2, timeoutMs: 5 * 60_000, run: (t: TaskContext) => installCalicoctl(t) }]
        : []),
      { name: `install ${release.plugin} chart`, retries: 1, timeoutMs: 10 * 60_000, run: (t: TaskContext) => installChart(t, release) },
      { name: `${release.plugin} rolled out`, timeoutMs: (ROLLOUT_TIMEOUT_SECONDS + 120) * 1000, run: (t: TaskContext) => awaitRollout(t, release) },
    ]
  },
  files: (ctx) => {
    const release = networkRelease(ctx.config, pluginOf(ctx))
    return [valuesFile(release), ...manifestFiles(release)]
  },
})

/** The chart's values as helm reads them on the node. */
export function valuesFile(release: NetworkRelease): NodeFile {
  return { path: `${NETWORK_DIR}/${release.plugin}-values.yaml`, mode: 0o600, content: stringify(release.values) }
}

/** Objects applied before the chart (calico's kubernetes-services-endpoint without kube-proxy). */
export function manifestFiles(release: NetworkRelease): NodeFile[] {
  return release.manifests.map((m) => ({ path: `${NETWORK_DIR}/${release.plugin}-${m.name}.yaml`, mode: 0o600, content: stringify(m.object) }))
}

async function installCalicoctl(t: TaskContext): Promise<void> {
  if (await installBinary(t, 'calicoctl', CALICOCTL)) t.changed()
}

/**
 * `helm upgrade --install` of the verified chart with the rendered values. A rerun with the same chart
 * and values, whose release still exists, changes nothing and calls no install.
 */
async function installChart(t: TaskContext, release: NetworkRelease): Promise<void> {
  const { path, artifact } = t.artifact(release.plugin)
  const chart = `${NETWORK_DIR}/${artifact.file}`
  const valuesNodeFile = valuesFile(release)
  const values = valuesNodeFile.path
  const stamp = `${NETWORK_DIR}/${release.plugin}.applied`
  const manifests = manifestFiles(release)
  const applied = createHash('sha256').update([artifact.sha256, valuesNodeFile.content, ...manifests.map((m) => m.content)].join('\n')).digest('hex')

  const chartChanged = (await t.upload(path, chart, { mode: 0o644, sha256: artifact.sha256 })).changed
  let valuesChanged = await putNodeFile(t, valuesNodeFile)
  for (const manifest of manifests) valuesChanged = (await putNodeFile(t, manifest)) || valuesChanged
  const state = await releaseState(t, release)
  const stamped = (await t.exec(sh`grep -qx ${applied} ${stamp}`, { allowFailure: true })).code === 0
  if (stamped && state === 'deployed' && !chartChanged && !valuesChanged) return

  await recoverStuckRelease(t, release, state)
  if (release.privilegedNamespace || manifests.length > 0) await t.exec(ensureNamespace(release.namespace))
  if (release.privilegedNamespace) {
    await t.exec(sh`${ADMIN_KUBECTL} label --overwrite namespace ${release.namespace} pod-security.kubernetes.io/enforce=privileged`)
  }
  // Before the chart: what its pods read when they start (calico's operator reads its ConfigMap only then).
  for (const manifest of manifests) await t.exec(sh`${ADMIN_KUBECTL} apply -f ${manifest.path}`)
  await t.exec(sh`${HELM} upgrade --install ${release.release} ${chart} --namespace ${release.namespace} --create-namespace --values ${values} --kubeconfig ${ADMIN_CONF}`,
    { timeoutMs: 5 * 60_000 })
  await t.exec(sh`printf '%s\n' ${applied} > ${stamp}`)
  t.changed()
}

/** The release's helm status (deployed, failed, pending-install, ...), or undefined when there is none. */
async function releaseState(t: TaskContext, release: NetworkRelease): Promise<string | undefined> {
  const status = await t.exec(sh`${HELM} status ${release.release} --namespace ${release.namespace} --kubeconfig ${ADMIN_CONF} -o json`, { allowFailure: true })
  if (status.code !== 0) return undefined
  try {
    return (JSON.parse(status.stdout) as { info?: { status?: string } }).info?.status
  } catch {
    return undefined
  }
}

/**
 * A helm run that was killed leaves its release pending, and helm refuses every later upgrade ("another
 * operation is in progress"): an install that never finished is removed, an upgrade or rollback rolled back.
 */
async function recoverStuckRelease(t: TaskContext, release: NetworkRelease, state: string | undefined): Promise<void> {
  if (!state?.startsWith('pending-')) return
  const where = sh`${release.release} --namespace ${release.namespace} --kubeconfig ${ADMIN_CONF}`
  t.warn(`helm release ${release.release} is ${state} (an earlier run was interrupted); ${state === 'pending-install' ? 'uninstalling' : 'rolling back'} it first`)
  await t.exec(state === 'pending-install' ? sh`${HELM} uninstall ${where}` : sh`${HELM} rollback ${where}`, { timeoutMs: 5 * 60_000 })
}

/** Each workload in order: wait for it to exist (an operator creates some), then for its rollout. */
async function awaitRollout(t: TaskContext, release: NetworkRelease): Promise<void> {
  const deadline = Date.now() + ROLLOUT_TIMEOUT_SECONDS * 1000
  for (const workload of release.workloads) {
    await waitUntilExists(t, release, workload, deadline)
    const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000))
    const rollout = await t.exec(
      sh`${ADMIN_KUBECTL} rollout status ${`${workload.kind}/${workload.name}`} --namespace ${workload.namespace} --timeout=${`${seconds}s`}`,
      { allowFailure: true, timeoutMs: (seconds + 30) * 1000 })
    if (rollout.code !== 0) throw await notRolledOut(t, release, workload, (rollout.stderr || rollout.stdout).trim())
  }
}

async function waitUntilExists(t: TaskContext, release: NetworkRelease, workload: Workload, deadline: number): Promise<void> {
  const get = sh`${ADMIN_KUBECTL} get ${`${workload.kind}/${workload.name}`} --namespace ${workload.namespace} -o name`
  for (;;) {
    const found = await t.exec(get, { allowFailure: true })
    if (found.code === 0) return
    if (Date.now() > deadline) throw await notRolledOut(t, release, workload, `${workload.kind}/${workload.name} was never created`)
    await sleep(POLL_MS)
  }
}

/** Names the workload; its namespace's pods, listed last, are the lines the failure report shows. */
async function notRolledOut(t: TaskContext, release: NetworkRelease, workload: Workload, detail: string): Promise<UserError> {
  await t.exec(sh`${ADMIN_KUBECTL} get pods --namespace ${workload.namespace} -o wide`, { allowFailure: true })
  return new UserError(
    `${release.plugin}: ${workload.kind}/${workload.name} in ${workload.namespace} did not roll out within ${ROLLOUT_TIMEOUT_SECONDS}s: ${detail.split('\n').pop()}`,
    { field: 'spec.network.plugin' },
    `Look at the pods in ${workload.namespace} (kubectl describe pod); their images must be pullable from every node`,
  )
}
