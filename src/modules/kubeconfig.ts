import { alwaysRuns, defineModule, nothingNeeded } from './module.js'

/** admin.conf brought to the runner, pointed at an address it reaches, mode 0600. */
export const kubeconfig = defineModule({
  id: 'kubeconfig',
  hosts: (ctx) => [ctx.firstControlPlane],
  skip: alwaysRuns,
  needs: nothingNeeded,
})
