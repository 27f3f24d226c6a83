import { alwaysRuns, defineModule } from './module.js'

/** `kubeadm reset -f` and stopping what the create pipeline started. */
export const reset = defineModule({
  id: 'reset',
  hosts: (ctx) => ctx.config.hosts,
  skip: alwaysRuns,
  needs: () => [],
})
