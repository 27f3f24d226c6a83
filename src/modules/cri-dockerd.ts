import { atLeast } from '../plan/version.js'
import { defineModule, kubernetesNodes } from './module.js'

/** The CRI shim for Docker, needed since Kubernetes v1.24 removed dockershim. */
export const criDockerd = defineModule({
  id: 'cri-dockerd',
  hosts: kubernetesNodes,
  skip: ({ config }) => {
    const { containerManager, version } = config.kubernetes
    if (containerManager !== 'docker') return `kubernetes.containerManager is ${containerManager}`
    if (!atLeast(version, 'v1.24.0')) return `kubernetes.version is ${version} (< v1.24: dockershim is built in)`
    return undefined
  },
  needs: () => ['cri-dockerd'],
})
