import type { PipelineName } from '../plan/types.js'
import type { ModuleDefinition } from './module.js'
import { precheck } from './precheck.js'
import { configureOs } from './configure-os.js'
import { syncBinaries } from './sync-binaries.js'
import { containerd } from './containerd.js'
import { docker } from './docker.js'
import { criDockerd } from './cri-dockerd.js'
import { etcd } from './etcd.js'
import { loadBalancer } from './load-balancer.js'
import { kubeadmInit } from './kubeadm-init.js'
import { joinControlPlane } from './join-control-plane.js'
import { joinWorkers } from './join-workers.js'
import { network } from './network.js'
import { addons } from './addons.js'
import { kubeconfig } from './kubeconfig.js'
import { smokeTest } from './smoke-test.js'
import { reset } from './reset.js'
import { cleanup } from './cleanup.js'

/** The pipelines, in the order of design.md §3. */
export const PIPELINES: Record<PipelineName, readonly ModuleDefinition[]> = {
  create: [
    precheck, configureOs, syncBinaries, containerd, docker, criDockerd, etcd, kubeadmInit,
    joinControlPlane, joinWorkers, loadBalancer, network, addons, kubeconfig, smokeTest,
  ],
  delete: [precheck, reset, cleanup],
}
