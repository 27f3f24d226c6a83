import { defineModule, kubernetesNodes } from './module.js'

/** The static Docker Engine bundle (it carries its own containerd and runc). */
export const docker = defineModule({
  id: 'docker',
  hosts: kubernetesNodes,
  skip: ({ config }) => {
    const manager = config.kubernetes.containerManager
    if (manager === 'docker') return undefined
    return `kubernetes.containerManager is ${manager}`
  },
  needs: () => ['docker', 'crictl'],
})
