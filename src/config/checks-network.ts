import { chartSourceProblem } from '../modules/addons-commands.js'
import { FLANNEL_NEEDS_KUBE_PROXY, kubeProxyDisabled } from '../modules/network-render.js'
import type { ConfigSource } from './source.js'
import type { ClusterConfig } from './types.js'

/** Network and addon settings a deploy could not carry out, refused when the config is loaded. */
export function checkNetworkAndAddons(config: ClusterConfig, source: ConfigSource): void {
  checkKubeProxy(config, source)
  checkAddonCharts(config, source)
}

/** flannel cannot stand in for kube-proxy (cilium and calico can: network-render gives them what they need). */
function checkKubeProxy(config: ClusterConfig, source: ConfigSource): void {
  if (config.network.plugin !== 'flannel' || !kubeProxyDisabled(config)) return
  throw source.error(['spec', 'kubernetes', 'disableKubeProxy'], FLANNEL_NEEDS_KUBE_PROXY.problem, { hint: FLANNEL_NEEDS_KUBE_PROXY.hint })
}

/** A chart helm could not find on the node: a REPO/CHART name without the repository's URL, or no source at all. */
function checkAddonCharts(config: ClusterConfig, source: ConfigSource): void {
  config.addons.forEach((addon, index) => {
    const chart = addon.sources.chart
    const problem = chart && chartSourceProblem(chart)
    if (!problem) return
    const chartPath = ['spec', 'addons', index, 'sources', 'chart']
    const at = source.locate([...chartPath, 'name']) ? [...chartPath, 'name'] : chartPath
    throw source.error(at, `addon ${addon.name}: ${problem.problem}`, { hint: problem.hint })
  })
}
