import { alwaysRuns, defineModule, kubernetesNodes } from './module.js'

/** kubeadm, kubelet, kubectl and the CNI plugins on every Kubernetes node. */
export const syncBinaries = defineModule({
  id: 'sync-binaries',
  hosts: kubernetesNodes,
  skip: alwaysRuns,
  needs: () => ['kubeadm', 'kubelet', 'kubectl', 'cni-plugins'],
})
