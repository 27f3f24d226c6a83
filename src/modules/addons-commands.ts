import { createHash } from 'node:crypto'
import { basename, dirname, isAbsolute, resolve } from 'node:path'
import type { Addon, ClusterConfig } from '../config/types.js'
import { UserError } from '../errors.js'
import { sh, type Command } from '../nodes/quote.js'

export const ADMIN_CONF = '/etc/kubernetes/admin.conf'
export const KUBECTL = '/usr/local/bin/kubectl'
/** kubectl's discovery cache goes under kk-action's own state (delete removes it), not into root's home. */
export const KUBECTL_CACHE_DIR = '/var/lib/kk-action/kubectl-cache'
/** kubectl as the cluster admin, on a control plane. */
export const ADMIN_KUBECTL = sh`${KUBECTL} --kubeconfig ${ADMIN_CONF} --cache-dir ${KUBECTL_CACHE_DIR}`
export const HELM = '/usr/local/bin/helm'
/** Where an addon's files from the runner (values file, local chart, manifests) are put on the node. */
export const ADDONS_DIR = '/etc/kubekey/addons'
/**
 * helm's repository list and index cache for the repositories kk-action adds: its own, so the node's
 * ~/.config/helm is never touched (a repository of the same name there stays as it is) and cleanup removes them.
 */
const HELM_REPOSITORIES = [`--repository-config=${ADDONS_DIR}/helm/repositories.yaml`, `--repository-cache=${ADDONS_DIR}/helm/cache`]

/** A file on the runner that the addon's command reads on the node. */
export interface AddonFile {
  local: string
  remote: string
}

/** What it takes to apply one addon on the node: files to send, then commands in order. */
export interface AddonSteps {
  files: AddonFile[]
  commands: Command[]
}

const isUrl = (path: string) => /^https?:\/\//.test(path)

/** The node's directory for an addon; the name is hashed in when it is not a plain file name. */
export function addonDir(addon: Addon): string {
  const plain = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(addon.name)
  const id = plain ? addon.name : createHash('sha256').update(addon.name).digest('hex').slice(0, 16)
  return `${ADDONS_DIR}/${id}`
}

/** A path in the config is relative to the config file, as KubeKey reads it relative to where it runs. */
function onRunner(config: ClusterConfig, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(config.file), path)
}

/** A runner file sent into the addon's directory; the index keeps two files of one basename apart. */
function sent(config: ClusterConfig, addon: Addon, path: string, index: number): AddonFile {
  return { local: onRunner(config, path), remote: `${addonDir(addon)}/${index}-${basename(path)}` }
}

/**
 * The steps of one addon: a chart becomes `helm upgrade --install` (idempotent on reruns) in its namespace,
 * yaml paths become `kubectl apply -f` (URLs are passed to kubectl as the user wrote them).
 */
export function addonSteps(config: ClusterConfig, addon: Addon): AddonSteps {
  const files: AddonFile[] = []
  const commands: Command[] = []
  const chart = addon.sources.chart
  if (chart) {
    const ref = chartReference(config, addon, files)
    const valuesFile = chart.valuesFile ? sent(config, addon, chart.valuesFile, files.length) : undefined
    if (valuesFile) files.push(valuesFile)
    // --force-update: a changed repo URL in the config replaces kk-action's own entry on a rerun.
    if (ref.repoName) commands.push(sh`${HELM} repo add ${ref.repoName} ${ref.repo!} --force-update ${HELM_REPOSITORIES}`)
    commands.push(helmCommand(addon, ref, valuesFile?.remote))
  }
  const yamlPaths = addon.sources.yaml?.path ?? []
  if (yamlPaths.length > 0 && addon.namespace) commands.push(ensureNamespace(addon.namespace))
  for (const path of yamlPaths) {
    const target = isUrl(path) ? path : (files.push(sent(config, addon, path, files.length)), files[files.length - 1].remote)
    commands.push(kubectlApply(addon.namespace, target))
  }
  return { files, commands }
}

interface ChartReference {
  chart: string
  repo?: string
  /** For a `REPO/CHART` name: helm finds the chart through a repository added under that name. */
  repoName?: string
}

/** `bitnami/redis` → `bitnami`: the repository helm looks the chart up in (oci:// and URLs name none). */
export function chartRepoName(name: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(name)) return undefined
  const slash = name.indexOf('/')
  return slash > 0 ? name.slice(0, slash) : undefined
}

function chartReference(config: ClusterConfig, addon: Addon, files: AddonFile[]): ChartReference {
  const chart = addon.sources.chart!
  if (chart.path) {
    if (!/\.tgz$/.test(chart.path)) {
      throw new UserError(`addon ${addon.name}: chart path ${chart.path} is not a packaged chart (.tgz)`,
        { file: config.file, field: 'spec.addons.sources.chart.path' }, 'Package it with `helm package DIR` and give the .tgz')
    }
    const file = sent(config, addon, chart.path, files.length)
    files.push(file)
    return { chart: file.remote }
  }
  const problem = chartSourceProblem(chart)
  if (problem) throw new UserError(`addon ${addon.name}: ${problem.problem}`, { file: config.file, field: 'spec.addons.sources.chart.repo' }, problem.hint)
  const repoName = chartRepoName(chart.name)
  // helm looks a name up in --repo's index as it is, where no chart name holds a "/": REPO/CHART needs `repo add`.
  return repoName ? { chart: chart.name, repo: chart.repo, repoName } : { chart: chart.name, repo: chart.repo }
}

/** Why helm could not find a chart that has no path (checked when the config is loaded), or undefined. */
export function chartSourceProblem(chart: { name: string; repo?: string; path?: string }): { problem: string; hint: string } | undefined {
  if (chart.path || chart.repo || /^oci:\/\//.test(chart.name)) return undefined
  const repoName = chartRepoName(chart.name)
  if (repoName) {
    return {
      problem: `chart ${chart.name} is looked up in the helm repository "${repoName}", and sources.chart.repo gives no URL for it`,
      hint: `Set sources.chart.repo to the URL of the ${repoName} repository (kk-action adds it on the first control plane as helm repo add ${repoName} URL does), or give a packaged chart in path`,
    }
  }
  return { problem: `chart ${chart.name} has neither a repo nor a path`, hint: 'Give the chart repository URL in repo, or a packaged chart in path' }
}

function helmCommand(addon: Addon, ref: ChartReference, valuesFile: string | undefined): Command {
  const chart = addon.sources.chart!
  const args: string[] = ['upgrade', '--install', addon.name, ref.chart, '--namespace', addon.namespace ?? 'default', '--create-namespace']
  if (ref.repo && !ref.repoName) args.push('--repo', ref.repo)
  if (chart.version) args.push('--version', chart.version)
  if (valuesFile) args.push('--values', valuesFile)
  for (const value of chart.values ?? []) args.push('--set', value)
  if (chart.wait) args.push('--wait')
  if (ref.repoName) args.push(...HELM_REPOSITORIES)
  args.push('--kubeconfig', ADMIN_CONF)
  return sh`${HELM} ${args}`
}

function kubectlApply(namespace: string | undefined, target: string): Command {
  const args = ['apply', '-f', target]
  if (namespace) args.push('--namespace', namespace)
  return sh`${ADMIN_KUBECTL} ${args}`
}

/** A namespace for yaml addons must exist before `kubectl apply -n` (helm creates its own). */
export function ensureNamespace(namespace: string): Command {
  return sh`${ADMIN_KUBECTL} get namespace ${namespace} >/dev/null 2>&1 || ${ADMIN_KUBECTL} create namespace ${namespace}`
}
