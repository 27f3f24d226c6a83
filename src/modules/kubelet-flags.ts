import { atLeast } from '../plan/version.js'

/**
 * kubelet flags a Kubernetes release removed (cmd/kubelet/app/options): the dockershim flags went with
 * dockershim in 1.24 (kubernetes#106907), --container-runtime in 1.27 (kubernetes#114017). A kubelet given one
 * exits with "unknown flag", so kubeadm init or join times out waiting for it.
 */
const REMOVED_KUBELET_FLAGS: ReadonlyArray<{ since: string; flags: readonly string[]; instead: string }> = [
  {
    since: '1.24.0',
    flags: ['network-plugin', 'network-plugin-mtu', 'cni-bin-dir', 'cni-conf-dir', 'cni-cache-dir', 'docker-endpoint',
      'image-pull-progress-deadline', 'experimental-dockershim-root-directory'],
    instead: 'the container runtime (containerd, or cri-dockerd for docker) manages CNI and images from 1.24 on: drop it',
  },
  { since: '1.27.0', flags: ['container-runtime'], instead: 'every runtime is remote from 1.27 on: drop it (kk-action sets the CRI socket)' },
]

/** Why the kubelet of `version` would refuse `--flag`, or undefined when it has the flag. */
export function removedKubeletFlag(version: string, flag: string): string | undefined {
  const removal = REMOVED_KUBELET_FLAGS.find((entry) => entry.flags.includes(flag) && atLeast(version, entry.since))
  return removal && `the kubelet has no --${flag} since v${removal.since.replace(/\.0$/, '')}; ${removal.instead}`
}
