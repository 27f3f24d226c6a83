import { joinFiles, joinTasks } from './kubeadm-join.js'
import { defineModule, nothingNeeded } from './module.js'
import type { PlanContext } from '../plan/types.js'

function dedicatedWorkers(ctx: PlanContext) {
  const controlPlanes = ctx.hostsWithRole('control-plane')
  return ctx.hostsWithRole('worker').filter((host) => !controlPlanes.includes(host))
}

/** Worker hosts that are not control planes join, in parallel. */
export const joinWorkers = defineModule({
  id: 'join-workers',
  hosts: dedicatedWorkers,
  skip: (ctx) => (dedicatedWorkers(ctx).length > 0 ? undefined : 'roleGroups.worker has no host outside the control plane'),
  needs: nothingNeeded,
  tasks: (ctx) => joinTasks(ctx, false),
  files: ({ config }, host) => joinFiles(config, host, false),
})
