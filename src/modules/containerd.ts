import { defineModule, kubernetesNodes } from './module.js'

/** containerd, runc and crictl as the CRI runtime. */
export const containerd = defineModule({
  id: 'containerd',
  hosts: kubernetesNodes,
  skip: ({ config }) => {
    const manager = config.kubernetes.containerManager
    return manager === 'containerd' ? undefined : `kubernetes.containerManager is ${manager}`
  },
  needs: () => ['containerd', 'runc', 'crictl'],
})
