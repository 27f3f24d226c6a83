import { alwaysRuns, defineModule, nothingNeeded } from './module.js'

/** `kubeadm init` on the first control-plane host. */
export const kubeadmInit = defineModule({
  id: 'kubeadm-init',
  hosts: (ctx) => [ctx.firstControlPlane],
  skip: alwaysRuns,
  needs: nothingNeeded,
})
