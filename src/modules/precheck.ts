import { alwaysRuns, defineModule, nothingNeeded } from './module.js'

/** Checks every host before anything changes: reachable, sudo, arch, OS, commands, swap, clock, ports. */
export const precheck = defineModule({
  id: 'precheck',
  hosts: (ctx) => ctx.config.hosts,
  skip: alwaysRuns,
  needs: nothingNeeded,
})
