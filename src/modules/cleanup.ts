import { posix } from 'node:path'
import type { ClusterConfig } from '../config/types.js'
import { raw, sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { dataDirMakers, MADE_DIRS, restoreMachineUnits, runtimeDataDir } from './machine-own.js'
import { backupScriptPath } from './etcd-config.js'
import { alwaysRuns, defineModule, nothingNeeded } from './module.js'
import { KK_UNITS } from './reset.js'
import { NODE_ARTIFACT_DIR, ORIGINAL_SUFFIX, TAKEN_OVER_DIR } from './steps.js'

const BIN = '/usr/local/bin'
const KUBELET_DIR = '/var/lib/kubelet'
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap', 'bandwidth', 'firewall', 'tuning']
const CONTAINERD_BINARIES = ['containerd', 'containerd-shim', 'containerd-shim-runc-v1', 'containerd-shim-runc-v2', 'containerd-stress', 'ctr']
const DOCKER_BINARIES = ['docker', 'dockerd', 'containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'docker-init', 'docker-proxy']

/**
 * Paths where the create pipeline installs binaries. Each is removed only when kk-action's mark says it wrote
 * it (steps.ts: every binary install is taken over), and what the machine had there is put back: a runner's
 * own helm or kubectl stays. The CNI binaries the network plugin's pods install carry no mark: those go
 * only with that plugin configured.
 */
export function installedBinaries(): string[] {
  const kubernetes = ['kubeadm', 'kubelet', 'kubectl', 'etcd', 'etcdctl', 'crictl', 'cri-dockerd', 'helm', 'calicoctl']
  const binaries = [...new Set([...kubernetes, ...CONTAINERD_BINARIES, ...DOCKER_BINARIES])].map((name) => `${BIN}/${name}`)
  return [...binaries, '/usr/local/sbin/runc', ...CNI_PLUGINS.map((plugin) => `/opt/cni/bin/${plugin}`)]
}

/** Binaries the network plugin's pods put on the node (no kk-action mark: they go with the plugin configured). */
function podInstalledBinaries(config: ClusterConfig): string[] {
  return (NETWORK_BINARIES[config.network.plugin]?.cni ?? []).map((plugin) => `/opt/cni/bin/${plugin}`)
}

/**
 * What the network plugin put on the node: calicoctl (kk-action), the CNI binaries its pods install, and the
 * files its pods write to /etc/cni/net.d (other files there are someone else's: a CNI the user installed).
 */
const NETWORK_BINARIES: Record<string, { cni: string[]; netd: string[] }> = {
  calico: { cni: ['calico', 'calico-ipam', 'flannel'], netd: ['10-calico.conflist', 'calico-kubeconfig', 'calico-tls'] },
  flannel: { cni: ['flannel'], netd: ['10-flannel.conflist'] },
  cilium: { cni: ['cilium-cni'], netd: ['05-cilium.conflist', '05-cilium.conf'] },
}

/** The CNI state the network plugin's pods leave; nothing with `network.plugin: none` (the CNI is the user's). */
function networkFiles(config: ClusterConfig): string[] {
  const network = NETWORK_BINARIES[config.network.plugin]
  if (!network) return []
  return [...network.netd.map((name) => `/etc/cni/net.d/${name}`), '/var/lib/cni']
}

/** Configs, certificates, and the state Kubernetes, CNI and etcd keep (units and binaries: TAKEN_OVER_FILES). */
export function clusterFiles(config: ClusterConfig): string[] {
  return [
    '/etc/kubernetes', '/var/lib/kubelet', '/etc/kubekey',
    '/etc/containerd/certs.d',
    '/etc/ssl/etcd', '/etc/etcd.env', backupScriptPath(config),
    ...networkFiles(config), '/var/lib/calico', '/var/log/calico', '/run/calico', '/run/flannel', '/etc/flannel', '/run/cilium',
    '/var/lib/dockershim', '/var/run/kubernetes', '/var/log/pods', '/var/log/containers',
    '/etc/sysctl.d/99-kubernetes.conf', '/etc/modules-load.d/kubernetes.conf', '/etc/systemd/timesyncd.conf.d/kk-action.conf',
    NODE_ARTIFACT_DIR,
  ]
}

/**
 * Directories the create pipeline may have made, removed when nothing else is left in them, no
 * distribution package owns them and they belong to root: a packaged containerd's or etcd's directory
 * (etcd's made by its package for its own user) was there before, and kk-action runs everything as root.
 */
export function parentsIfEmpty(config: ClusterConfig): string[] {
  return ['/opt/cni/bin', '/opt/cni', '/etc/cni/net.d', '/etc/cni', '/etc/containerd', '/etc/docker', posix.dirname(backupScriptPath(config)),
    '/etc/systemd/timesyncd.conf.d', '/etc/systemd/system/kubelet.service.d', config.etcd.dataDir, runtimeDataDir(config)]
}

// Unmounts what is mounted below a directory (deepest first: pod volumes, leftover snapshots).
const UNMOUNT_BELOW = `for dir in "$@"; do
  awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" && echo "unmounted $m"
  done
done; true`

// The kubelet bind-mounts its root directory onto itself where / is not a shared mount (for mount
// propagation): that mount, on the same filesystem as its parent, goes too, or rm finds the directory busy.
// A directory on a disk of its own has another device number and is left mounted.
const UNMOUNT_SELF_BIND = `for dir in "$@"; do
  if mountpoint -q "$dir" && [ "$(stat -c %d "$dir")" = "$(stat -c %d "$(dirname "$dir")")" ]; then
    umount "$dir" 2>/dev/null || umount -l "$dir" && echo "unmounted $dir"
  fi
done; true`

// Prints what it removed or restored; what is already gone is not an error.
const REMOVE = `for p in "$@"; do
  if [ -e "$p${ORIGINAL_SUFFIX}" ]; then rm -rf -- "$p" && mv -f -- "$p${ORIGINAL_SUFFIX}" "$p" && echo "restored $p"
  elif [ -e "$p" ] || [ -L "$p" ]; then rm -rf --one-file-system -- "$p" && echo "removed $p"; fi
done`

/**
 * Files kk-action writes over what a package or the machine may have put there (putFile's keepOriginal, every
 * unit file and every binary): the original kept beside them goes back; without one, the file goes only when
 * kk-action wrote it (its taken-over mark, or the header an older kk-action's config.toml carries), never a
 * machine's own file kk-action has not touched.
 */
export const TAKEN_OVER_CONFIGS = ['/etc/containerd/config.toml', '/etc/docker/daemon.json', '/etc/crictl.yaml']

export function takenOverFiles(): string[] {
  const units = [...KK_UNITS.map((unit) => `/etc/systemd/system/${unit}`), '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf']
  return [...TAKEN_OVER_CONFIGS, ...units, ...installedBinaries()]
}

const PUT_BACK = `marks=$1; shift
for p in "$@"; do
  if [ -e "$p${ORIGINAL_SUFFIX}" ] || [ -L "$p${ORIGINAL_SUFFIX}" ]; then
    rm -rf -- "$p" && mv -f -- "$p${ORIGINAL_SUFFIX}" "$p" && echo "restored $p" || exit 1
  elif [ -f "$p" ] && { [ -e "$marks$p" ] || head -n 1 -- "$p" | grep -q '^# Written by kk-action'; }; then
    rm -f -- "$p" && echo "removed $p" || exit 1
  fi
done`

// The contents of a data directory (it may be a mount point, which cannot itself be removed).
const EMPTY_DIR = `for d in "$@"; do
  [ -d "$d" ] || continue
  if [ -n "$(ls -A -- "$d")" ]; then find "$d" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + && echo "emptied $d"; fi
done; true`

const RMDIR_IF_EMPTY = `packaged() { command -v dpkg-query >/dev/null 2>&1 && dpkg-query -S "$1" >/dev/null 2>&1 ||
  { command -v rpm >/dev/null 2>&1 && rpm -qf "$1" >/dev/null 2>&1; }; }
for d in "$@"; do
  [ -d "$d" ] && [ "$(stat -c %u -- "$d")" = 0 ] && ! packaged "$d" && rmdir -- "$d" 2>/dev/null && echo "removed $d"
done; true`

function reportChanges(t: TaskContext, stdout: string): void {
  const lines = stdout.split('\n').filter(Boolean)
  for (const line of lines) t.log(line)
  if (lines.length) t.changed()
}

async function unmountClusterDirs(t: TaskContext): Promise<void> {
  // The machine's own containerd keeps its containers' mounts there: only the pods' (CRI, namespace k8s.io) go.
  const dataDir = runtimeDataDir(t.config)
  const ours = (await dataDirMakers(t)).get(dataDir) === 'kk-action'
  const runtime = ours
    ? [dataDir, '/run/containerd']
    : [`${dataDir}/io.containerd.grpc.v1.cri`, '/run/containerd/io.containerd.grpc.v1.cri', '/run/containerd/io.containerd.runtime.v2.task/k8s.io']
  // cilium mounts cgroup2 at /run/cilium/cgroupv2: removing below it would walk the host's cgroups.
  const dirs = [KUBELET_DIR, ...runtime, '/run/cilium']
  reportChanges(t, (await t.exec(sh`sh -c ${UNMOUNT_BELOW} kk-unmount ${dirs}`)).stdout)
  reportChanges(t, (await t.exec(sh`sh -c ${UNMOUNT_SELF_BIND} kk-unmount-self ${KUBELET_DIR}`)).stdout)
}

async function removeFiles(t: TaskContext): Promise<void> {
  reportChanges(t, (await t.exec(sh`sh -c ${PUT_BACK} kk-put-back ${TAKEN_OVER_DIR} ${takenOverFiles()}`)).stdout)
  const files = [...podInstalledBinaries(t.config), ...clusterFiles(t.config)]
  reportChanges(t, (await t.exec(sh`sh -c ${REMOVE} kk-remove ${files}`)).stdout)
  // Only what kk-action's runtime and etcd filled from empty: a runner's /var/lib/containerd is its own.
  const makers = await dataDirMakers(t)
  const ours = [...makers].filter(([, maker]) => maker === 'kk-action').map(([dir]) => dir)
  for (const [dir, maker] of makers) if (maker !== 'kk-action') t.log(`kept ${dir}: ${maker === 'machine' ? 'the machine had data there before kk-action' : 'no record that kk-action made it'}`)
  if (ours.length) reportChanges(t, (await t.exec(sh`sh -c ${EMPTY_DIR} kk-empty ${ours}`)).stdout)
  // What the runtime and the kubelet make (MADE_DIRS): gone when the machine did not have it.
  const made = [...(await dataDirMakers(t, Object.keys(MADE_DIRS)))].filter(([, maker]) => maker === 'kk-action')
    .flatMap(([dir]) => [...MADE_DIRS[dir].map((sub) => `${dir}/${sub}`), dir])
  reportChanges(t, (await t.exec(sh`sh -c ${RMDIR_IF_EMPTY} kk-rmdir ${[...parentsIfEmpty(t.config), ...made]}`)).stdout)
}

async function restoreMachineServices(t: TaskContext): Promise<void> {
  reportChanges(t, (await restoreMachineUnits(t)).join('\n'))
}

/** Last: the marks and records the steps above read. */
async function forgetRecords(t: TaskContext): Promise<void> {
  reportChanges(t, (await t.exec(sh`sh -c ${REMOVE} kk-remove ${'/var/lib/kk-action'}`)).stdout)
}

const HOSTS_BLOCK = '/^# kk-action hosts BEGIN$/,/^# kk-action hosts END$/d'

async function removeHostsBlock(t: TaskContext): Promise<void> {
  const present = await t.exec(raw("grep -qx '# kk-action hosts BEGIN' /etc/hosts"), { allowFailure: true })
  if (present.code !== 0) return
  // Rewritten in place (not renamed over): /etc/hosts may be a bind mount in containers.
  await t.exec(sh`sed ${HOSTS_BLOCK} /etc/hosts > /etc/hosts.kk-tmp && cat /etc/hosts.kk-tmp > /etc/hosts && rm -f /etc/hosts.kk-tmp`)
  t.changed()
}

/**
 * Chains kube-proxy and the CNI plugins create. KubeKey flushes every table (iptables -F/-X, -t nat too),
 * which also drops the machine's own firewall and Docker's rules; here only these chains and the rules
 * that jump to them go, the rest is restored as it was.
 */
export const KUBERNETES_CHAINS = 'KUBE-|CNI-|cali-|FLANNEL|CILIUM'

// iptables-save minus the chains and jumps above, restored per family; nothing happens without a match.
const FLUSH_KUBERNETES_RULES = `pattern="^:($1)|^-A ($1)|-j ($1)"; shift
for family in iptables ip6tables; do
  command -v "$family-save" >/dev/null 2>&1 || continue
  rules=$("$family-save" 2>/dev/null) || continue
  printf '%s\\n' "$rules" | grep -Eq "$pattern" || continue
  printf '%s\\n' "$rules" | grep -Ev "$pattern" | "$family-restore" && echo "removed Kubernetes $family rules"
done; true`

async function flushKubernetesRules(t: TaskContext): Promise<void> {
  reportChanges(t, (await t.exec(sh`sh -c ${FLUSH_KUBERNETES_RULES} kk-flush ${KUBERNETES_CHAINS}`)).stdout)
}

// Interfaces kube-proxy (ipvs) and the CNI plugins create.
const KUBERNETES_LINKS = ['kube-ipvs0', 'nodelocaldns', 'cni0', 'flannel.1', 'flannel-v6.1', 'vxlan.calico', 'cilium_host', 'cilium_vxlan']

const DELETE_LINKS = `for link in "$@"; do
  ip link show "$link" >/dev/null 2>&1 && ip link delete "$link" && echo "deleted interface $link"
done; true`

async function removeIpvsAndLinks(t: TaskContext): Promise<void> {
  // ipvsadm -C clears every virtual server: on a Kubernetes node, kube-proxy's ipvs mode is their only source.
  if (t.config.kubernetes.proxyMode === 'ipvs') {
    const listed = await t.exec(raw('ipvsadm -Sn 2>/dev/null'), { allowFailure: true })
    if (listed.code === 0 && listed.stdout.trim()) {
      await t.exec(raw('ipvsadm -C'))
      t.log('cleared the ipvs table')
      t.changed()
    }
  }
  reportChanges(t, (await t.exec(sh`sh -c ${DELETE_LINKS} kk-links ${KUBERNETES_LINKS}`)).stdout)
}

async function reloadSystemd(t: TaskContext): Promise<void> {
  await t.exec(raw('systemctl daemon-reload'))
  await t.exec(sh`systemctl reset-failed ${[...KK_UNITS]}`, { allowFailure: true })
}

/**
 * Removes what the create pipeline installed and wrote, and the rules and interfaces Kubernetes made.
 * Not reverted, as in KubeKey: swap stays off (the fstab lines stay commented out, marked "disabled by
 * kk-action", with /etc/fstab.kk-action.bak beside them), the hostname stays, sysctls keep their current
 * values until reboot (their file is removed), and etcd backups in etcd.backupDir are kept: they are the
 * way back from a delete run by mistake.
 */
export const cleanup = defineModule({
  id: 'cleanup',
  hosts: (ctx) => ctx.config.hosts,
  skip: alwaysRuns,
  needs: nothingNeeded,
  tasks: () => [
    { name: 'unmount pod volumes and container filesystems', run: unmountClusterDirs },
    { name: 'remove binaries, units, configs and data', timeoutMs: 10 * 60_000, run: removeFiles },
    { name: 'remove the /etc/hosts block', run: removeHostsBlock },
    { name: 'remove Kubernetes iptables rules', run: flushKubernetesRules },
    { name: 'remove ipvs rules and CNI interfaces', run: removeIpvsAndLinks },
    { name: 'reload systemd', run: reloadSystemd },
    { name: "start the machine's own services again", timeoutMs: 6 * 60_000, run: restoreMachineServices },
    { name: "remove kk-action's records", run: forgetRecords },
  ],
})
