import { alwaysRuns, defineModule, nothingNeeded } from './module.js'

/** Every node Ready and kube-system Running within a timeout. */
export const smokeTest = defineModule({
  id: 'smoke-test',
  hosts: (ctx) => [ctx.firstControlPlane],
  skip: alwaysRuns,
  needs: nothingNeeded,
})
