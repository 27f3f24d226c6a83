import { removedKubeletFlag } from '../modules/kubelet-flags.js'
import type { ConfigSource } from './source.js'
import type { ClusterConfig } from './types.js'

/** kubeletArgs naming a flag the kubelet of the configured version no longer has (it would exit at start). */
export function checkKubeletArgs(config: ClusterConfig, source: ConfigSource): void {
  const list = config.kubernetes.extra.kubeletArgs
  if (!Array.isArray(list)) return
  list.forEach((entry, index) => {
    const flag = typeof entry === 'string' ? /^(?:--)?([A-Za-z0-9][A-Za-z0-9_.-]*)(?:=|$)/.exec(entry.trim())?.[1] : undefined
    const problem = flag && removedKubeletFlag(config.kubernetes.version, flag)
    if (!problem) return
    throw source.error(['spec', 'kubernetes', 'kubeletArgs', index], `"${String(entry)}" is refused by kubelet ${config.kubernetes.version}`, {
      hint: problem.charAt(0).toUpperCase() + problem.slice(1),
    })
  })
}
