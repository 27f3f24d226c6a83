import { defineModule } from './module.js'

/** The CNI plugin's manifests, applied from the first control plane. */
export const network = defineModule({
  id: 'network',
  hosts: (ctx) => [ctx.firstControlPlane],
  skip: ({ config }) => (config.network.plugin === 'none' ? 'network.plugin is none' : undefined),
  needs: ({ config }) => (config.network.plugin === 'calico' ? ['calicoctl'] : []),
})
