import { defineModule } from './module.js'

/** haproxy on the workers in front of all apiservers, or kube-vip on the control planes. */
export const loadBalancer = defineModule({
  id: 'load-balancer',
  hosts: (ctx) => {
    const controlPlanes = ctx.hostsWithRole('control-plane')
    if (ctx.config.controlPlaneEndpoint.internalLoadbalancer === 'kube-vip') return controlPlanes
    return ctx.hostsWithRole('worker').filter((host) => !controlPlanes.includes(host))
  },
  skip: ({ config }) => {
    const kind = config.controlPlaneEndpoint.internalLoadbalancer
    return kind ? undefined : 'controlPlaneEndpoint.internalLoadbalancer is not set'
  },
  needs: () => [],
})
