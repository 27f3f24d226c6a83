import { alwaysRuns, defineModule, kubernetesNodes, type NodeFile } from './module.js'
import { ensureServiceState, installBinary, installFromArchiveOnce, putNodeFile } from './steps.js'
import type { TaskContext } from '../pipeline/types.js'

const BIN = '/usr/local/bin'
const CNI_BIN = '/opt/cni/bin'
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap', 'bandwidth', 'firewall', 'tuning']

const KUBELET_UNIT = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=${BIN}/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`

// The drop-in kubeadm expects: it writes kubeadm-flags.env and config.yaml, and starts the kubelet itself.
const KUBEADM_DROP_IN = `[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=${BIN}/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`

/** The three uploads at once: each is its own channel on the host's one connection (which allows 8). */
async function installKubernetesBinaries(t: TaskContext): Promise<void> {
  const installs = await Promise.allSettled((['kubeadm', 'kubelet', 'kubectl'] as const).map((name) => installBinary(t, name, `${BIN}/${name}`)))
  // Every upload has ended (none still running into a retry of this task); the first failure is the task's.
  const failed = installs.find((install) => install.status === 'rejected')
  if (failed) throw failed.reason
}

async function installCniPlugins(t: TaskContext): Promise<void> {
  const members = Object.fromEntries(CNI_PLUGINS.map((plugin) => [`./${plugin}`, `${CNI_BIN}/${plugin}`]))
  // A rerun with the plugins still in place is one stat and compare, not an upload check and an unpack.
  await installFromArchiveOnce(t, 'cni-plugins', members)
}

export const KUBELET_UNIT_FILE: NodeFile = { path: '/etc/systemd/system/kubelet.service', mode: 0o644, content: KUBELET_UNIT }
export const KUBEADM_DROP_IN_FILE: NodeFile = { path: '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', mode: 0o644, content: KUBEADM_DROP_IN }

async function installKubeletUnit(t: TaskContext): Promise<void> {
  const unit = await putNodeFile(t, KUBELET_UNIT_FILE)
  const dropIn = await putNodeFile(t, KUBEADM_DROP_IN_FILE)
  // Enabled, not started: kubeadm starts it once its config is there.
  await ensureServiceState(t, { enable: ['kubelet'], unitsChanged: unit || dropIn })
}

/** kubeadm, kubelet, kubectl and the CNI plugins on every Kubernetes node; the kubelet unit, enabled (kubeadm starts it). */
export const syncBinaries = defineModule({
  id: 'sync-binaries',
  hosts: kubernetesNodes,
  skip: alwaysRuns,
  needs: () => ['kubeadm', 'kubelet', 'kubectl', 'cni-plugins'],
  tasks: () => [
    { name: 'install kubeadm, kubelet, kubectl', retries: 2, run: installKubernetesBinaries },
    { name: 'install CNI plugins', retries: 2, run: installCniPlugins },
    { name: 'install the kubelet unit', run: installKubeletUnit },
  ],
  files: () => [KUBELET_UNIT_FILE, KUBEADM_DROP_IN_FILE],
})
