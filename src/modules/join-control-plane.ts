import { defineModule, nothingNeeded } from './module.js'

/** The other control-plane hosts join, one at a time. */
export const joinControlPlane = defineModule({
  id: 'join-control-plane',
  hosts: (ctx) => ctx.hostsWithRole('control-plane').filter((host) => host !== ctx.firstControlPlane),
  skip: (ctx) => {
    const count = ctx.hostsWithRole('control-plane').length
    return count > 1 ? undefined : 'roleGroups.control-plane has one host'
  },
  needs: nothingNeeded,
})
