import { alwaysRuns, defineModule, nothingNeeded } from './module.js'

/** Removes binaries, units, configs, CNI state and iptables/ipvs rules the create pipeline left. */
export const cleanup = defineModule({
  id: 'cleanup',
  hosts: (ctx) => ctx.config.hosts,
  skip: alwaysRuns,
  needs: nothingNeeded,
})
