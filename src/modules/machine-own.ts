/**
 * What a machine had before kk-action's first run on it, recorded by precheck (create pipeline) and read by
 * the delete pipeline, so that delete gives back the machine's own services and data instead of removing them:
 * a self-hosted runner's docker and containerd (their packaged units, their /var/lib data) stay its own.
 */
import type { ClusterConfig } from '../config/types.js'
import { sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { dataDirFromSpec } from './runtime-service.js'
import { TAKEN_OVER_DIR } from './steps.js'

/** `units/<unit>`: `active=… enabled=…` of a unit of the machine's own; `data<dir>`: who made the data directory. */
export const MACHINE_DIR = '/var/lib/kk-action/machine'

/** Units kk-action writes in /etc/systemd/system that a package may also provide (and run) under the same name. */
export const SHADOWED_UNITS = ['containerd.service', 'docker.socket', 'docker.service', 'etcd.service', 'kubelet.service']

/** The container runtime's data directory for this config (KubeKey's registry.*DataDir, else the default). */
export function runtimeDataDir(config: ClusterConfig): string {
  return config.kubernetes.containerManager === 'containerd'
    ? dataDirFromSpec(config, 'containerdDataDir') ?? '/var/lib/containerd'
    : dataDirFromSpec(config, 'dockerDataDir') ?? '/var/lib/docker'
}

/** Data directories the cluster fills: the runtime's and etcd's. */
export function dataDirs(config: ClusterConfig): string[] {
  return [...new Set([runtimeDataDir(config), config.etcd.dataDir])]
}

// Each record is written once, on the first run (a rerun finds it). A unit counts as the machine's own when
// systemd knows it from a file kk-action has not written; a data directory is kk-action's when it was absent or empty.
const RECORD = `machine=$1 marks=$2; shift 2
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
  u=$1; shift; rec="$machine/units/$u"
  [ -e "$rec" ] && continue
  command -v systemctl >/dev/null 2>&1 || continue
  [ "$(systemctl show -p LoadState --value "$u" 2>/dev/null)" = loaded ] || continue
  path=$(systemctl show -p FragmentPath --value "$u" 2>/dev/null)
  [ -n "$path" ] && [ -e "$marks$path" ] && continue
  mkdir -p "$machine/units" && printf 'active=%s enabled=%s\\n' "$(systemctl is-active "$u" 2>/dev/null)" "$(systemctl is-enabled "$u" 2>/dev/null)" > "$rec" || exit 1
  echo "the machine's own $u: $(cat "$rec")"
done
shift
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
  d=$1; shift; rec="$machine/data$d"
  [ -e "$rec" ] && continue
  mkdir -p "$(dirname "$rec")" || exit 1
  if [ -d "$d" ] && [ -n "$(ls -A -- "$d" 2>/dev/null)" ]; then echo machine > "$rec"; echo "the machine's own data: $d"
  else echo kk-action > "$rec"; fi
done
shift
for d in "$@"; do
  rec="$machine/data$d"
  [ -e "$rec" ] && continue
  mkdir -p "$(dirname "$rec")" || exit 1
  if [ -e "$d" ]; then echo machine > "$rec"; else echo kk-action > "$rec"; fi
done`

/**
 * Directories that what kk-action runs makes when they are absent, with the subdirectories it makes in them
 * (deepest first): containerd's opt plugin, and the kubelet's flexvolume plugin directory.
 */
export const MADE_DIRS: Record<string, string[]> = {
  '/opt/containerd': ['bin', 'lib'],
  '/usr/libexec/kubernetes': ['kubelet-plugins/volume/exec', 'kubelet-plugins/volume', 'kubelet-plugins'],
}

/** precheck's record of the machine's own units and data directories (before anything changes). */
export async function recordMachineOwn(t: TaskContext): Promise<void> {
  const result = await t.exec(sh`sh -c ${RECORD} kk-record ${MACHINE_DIR} ${TAKEN_OVER_DIR} ${SHADOWED_UNITS} -- ${dataDirs(t.config)} -- ${Object.keys(MADE_DIRS)}`)
  for (const line of result.stdout.split('\n').filter(Boolean)) t.log(line)
}

/** Who made each data directory: `kk-action` (empty it on delete), `machine`, or undefined (no record: keep it). */
export async function dataDirMakers(t: TaskContext, dirs = dataDirs(t.config)): Promise<Map<string, string | undefined>> {
  const read = await t.exec(sh`for d in ${dirs}; do printf '%s %s\\n' "$d" "$(cat -- ${MACHINE_DIR}"/data$d" 2>/dev/null)"; done`)
  const makers = new Map<string, string | undefined>(dirs.map((d) => [d, undefined]))
  for (const line of read.stdout.split('\n')) {
    const [dir, maker] = line.split(' ')
    if (makers.has(dir) && maker) makers.set(dir, maker)
  }
  return makers
}

// After kk-action's own units are gone: the machine's units as they were (enabled, running) before its first run.
const RESTORE = `machine=$1; shift
for u in "$@"; do
  rec="$machine/units/$u"; [ -f "$rec" ] || continue
  if grep -q 'enabled=enabled' "$rec" && [ "$(systemctl is-enabled "$u" 2>/dev/null)" != enabled ]; then
    systemctl enable "$u" >/dev/null 2>&1 && echo "enabled $u again (the machine's own)"
  fi
  if grep -q 'active=active' "$rec" && ! systemctl is-active --quiet "$u"; then
    systemctl start "$u" && echo "started $u again (the machine's own)" || echo "could not start $u (the machine's own)" >&2
  fi
done; true`

/** Starts (and enables) the machine's own units that ran before kk-action's first run. Returns what it did. */
export async function restoreMachineUnits(t: TaskContext): Promise<string[]> {
  const result = await t.exec(sh`sh -c ${RESTORE} kk-restore ${MACHINE_DIR} ${SHADOWED_UNITS}`, { timeoutMs: 5 * 60_000 })
  const failed = result.stderr.split('\n').filter((line) => line.startsWith('could not start'))
  for (const line of failed) t.warn(`${t.host.name}: ${line}; see journalctl -u ${line.split(' ')[3]}`)
  return result.stdout.split('\n').filter(Boolean)
}

/**
 * Where an older kk-action (before these records and marks) installed binaries for this config: the delete
 * pipeline takes those as kk-action's, as that version's delete did.
 */
function legacyInstalls(config: ClusterConfig, units: readonly string[]): string[] {
  const runtime = config.kubernetes.containerManager === 'containerd'
    ? ['containerd', 'containerd-shim', 'containerd-shim-runc-v1', 'containerd-shim-runc-v2', 'containerd-stress', 'ctr']
    : ['docker', 'dockerd', 'containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'docker-init', 'docker-proxy']
  const binaries = ['kubeadm', 'kubelet', 'kubectl', 'etcd', 'etcdctl', 'crictl', 'cri-dockerd', 'helm', ...runtime,
    ...(config.network.plugin === 'calico' ? ['calicoctl'] : [])].map((name) => `/usr/local/bin/${name}`)
  const cni = ['bridge', 'host-local', 'loopback', 'portmap', 'bandwidth', 'firewall', 'tuning'].map((name) => `/opt/cni/bin/${name}`)
  return [...units.map((unit) => `/etc/systemd/system/${unit}`), '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf',
    ...binaries, ...(config.kubernetes.containerManager === 'containerd' ? ['/usr/local/sbin/runc'] : []), ...cni]
}

const ADOPT_LEGACY = `base=$1 machine=$2 marks=$3; shift 3
[ -d "$base" ] && [ ! -d "$machine" ] || exit 0
echo "an older kk-action deployed here (no records): what it installed is taken as kk-action's"
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
  p=$1; shift
  if { [ -e "$p" ] || [ -L "$p" ]; } && [ ! -e "$marks$p" ] && [ ! -e "$p.kk-action-orig" ]; then mkdir -p "$(dirname "$marks$p")" && : > "$marks$p" || exit 1; fi
done
shift
for d in "$@"; do mkdir -p "$(dirname "$machine/data$d")" && echo kk-action > "$machine/data$d" || exit 1; done`

/** Delete on a node an older kk-action deployed: the marks and records that version did not write, as it would have. */
export async function adoptLegacyInstall(t: TaskContext, units: readonly string[]): Promise<void> {
  const result = await t.exec(sh`sh -c ${ADOPT_LEGACY} kk-adopt ${'/var/lib/kk-action'} ${MACHINE_DIR} ${TAKEN_OVER_DIR} ${legacyInstalls(t.config, units)} -- ${dataDirs(t.config)}`)
  if (result.stdout.trim()) {
    t.log(result.stdout.trim())
    t.changed()
  }
}
