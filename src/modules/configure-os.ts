import { alwaysRuns, defineModule, nothingNeeded } from './module.js'

/** Swap off, kernel modules, sysctls, /etc/hosts, hostname: what kubeadm's preflight expects. */
export const configureOs = defineModule({
  id: 'configure-os',
  hosts: (ctx) => ctx.config.hosts,
  skip: alwaysRuns,
  needs: nothingNeeded,
})
