import { defineModule } from './module.js'

/** KubeKey's `addons`: helm charts and YAML manifests, applied from the first control plane. */
export const addons = defineModule({
  id: 'addons',
  hosts: (ctx) => [ctx.firstControlPlane],
  skip: ({ config }) => (config.addons.length > 0 ? undefined : 'addons is empty'),
  needs: ({ config }) => (config.addons.some((addon) => addon.sources.chart) ? ['helm'] : []),
})
