import { joinFiles, joinTasks } from './kubeadm-join.js'
import { defineModule, nothingNeeded } from './module.js'

/** The other control-plane hosts join, one at a time (each new apiserver and etcd member settles first). */
export const joinControlPlane = defineModule({
  id: 'join-control-plane',
  hosts: (ctx) => ctx.hostsWithRole('control-plane').filter((host) => host !== ctx.firstControlPlane),
  skip: (ctx) => {
    const count = ctx.hostsWithRole('control-plane').length
    return count > 1 ? undefined : 'roleGroups.control-plane has one host'
  },
  needs: nothingNeeded,
  tasks: (ctx) => joinTasks(ctx, true),
  files: ({ config }, host) => joinFiles(config, host, true),
})
