import { raw, sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { criSocket, KUBEADM } from './kubeadm-config.js'
import { alwaysRuns, defineModule, nothingNeeded } from './module.js'
import { adoptLegacyInstall, dataDirMakers, runtimeDataDir } from './machine-own.js'
import { CONTAINERD_SOCKET } from './runtime-containerd-config.js'
import { TAKEN_OVER_DIR } from './steps.js'

/**
 * The units the create pipeline writes to /etc/systemd/system, stopped in this order (consumers before
 * what they consume). Only units whose file kk-action wrote there (its taken-over mark) are touched: a
 * distribution's own containerd or docker, or a unit the machine has in /etc/systemd/system, is left as it is.
 */
export const KK_UNITS = [
  'kubelet.service', 'backup-etcd.timer', 'backup-etcd.service', 'etcd.service',
  'cri-docker.service', 'cri-docker.socket', 'docker.service', 'docker.socket', 'containerd.service',
] as const

async function kubeadmReset(t: TaskContext): Promise<void> {
  const installed = await t.exec(sh`test -x ${KUBEADM}`, { allowFailure: true })
  if (installed.code !== 0) {
    t.log(`${KUBEADM} is not installed: nothing for kubeadm reset to do`)
    return
  }
  // The runtime must still run here: kubeadm reset removes the pods' containers through the CRI.
  const result = await t.exec(sh`${KUBEADM} reset -f --cri-socket ${criSocket(t.config)}`, { allowFailure: true, timeoutMs: 5 * 60_000 })
  if (result.code !== 0) t.warn(`kubeadm reset -f failed on ${t.host.name} (exit ${result.code}); the cleanup removes its files anyway: ${result.stderr.trim().split('\n').slice(-1)[0] ?? ''}`)
  t.changed()
}

// The CRI's namespace in a containerd data directory the machine had before kk-action: what the pods left there
// (their containers and images) goes, the machine's other namespaces (docker's moby) stay.
const REMOVE_CRI_NAMESPACE = `sock=$1; ctr=$(command -v /usr/local/bin/ctr ctr | head -n 1)
[ -S "$sock" ] && [ -n "$ctr" ] || exit 0
c() { "$ctr" --address "$sock" -n k8s.io "$@"; }
for id in $(c containers ls -q 2>/dev/null); do
  c tasks kill -s SIGKILL "$id" >/dev/null 2>&1; c tasks delete "$id" >/dev/null 2>&1
  c containers rm "$id" >/dev/null 2>&1 && echo "removed container $id (namespace k8s.io)"
done
images=$(c images ls -q 2>/dev/null)
if [ -n "$images" ]; then c images rm --sync $images >/dev/null && printf 'removed image %s (namespace k8s.io)\n' $images; fi
"$ctr" --address "$sock" namespaces rm k8s.io >/dev/null 2>&1 && echo "removed containerd namespace k8s.io"; true`

async function removeCriNamespace(t: TaskContext): Promise<void> {
  if (t.config.kubernetes.containerManager !== 'containerd') return
  const dir = runtimeDataDir(t.config)
  // kk-action's own data directory is emptied whole by the cleanup.
  if ((await dataDirMakers(t, [dir])).get(dir) !== 'machine') return
  const result = await t.exec(sh`sh -c ${REMOVE_CRI_NAMESPACE} kk-cri-ns ${CONTAINERD_SOCKET}`, { timeoutMs: 5 * 60_000 })
  const lines = result.stdout.split('\n').filter(Boolean)
  for (const line of lines) t.log(line)
  if (lines.length) t.changed()
}

// Prints the units it stopped or disabled; a unit that is gone or already stopped is not an error. Disabling
// removes only the links `systemctl enable` made to our unit file: `systemctl disable` would also disable a
// distribution's unit of the same name (its aliases, its SysV rc links) that was there before.
const STOP_UNITS = `marks=$1; shift
for unit in "$@"; do
  [ -f "/etc/systemd/system/$unit" ] && [ -e "$marks/etc/systemd/system/$unit" ] || continue
  if systemctl is-active --quiet "$unit"; then systemctl stop "$unit" && echo "stopped $unit"; fi
  find /etc/systemd/system -mindepth 2 -maxdepth 2 -type l \\( -path '*.wants/*' -o -path '*.requires/*' \\) \\
    -name "$unit" -lname "/etc/systemd/system/$unit" -print -delete | sed 's/^/disabled: removed /'
done; true`

async function stopUnits(t: TaskContext): Promise<void> {
  const result = await t.exec(sh`sh -c ${STOP_UNITS} kk-stop-units ${TAKEN_OVER_DIR} ${[...KK_UNITS]}`, { timeoutMs: 5 * 60_000 })
  const acted = result.stdout.split('\n').filter(Boolean)
  for (const line of acted) t.log(line)
  if (acted.length) t.changed()
}

// Containers the runtime started keep running after it stops (their shims are separate processes); their
// mounts would keep the data directories busy.
async function stopLeftoverShims(t: TaskContext): Promise<void> {
  const found = await t.exec(raw("pgrep -f '^/usr/local/bin/containerd-shim' || true"))
  if (!found.stdout.trim()) return
  await t.exec(raw("pkill -KILL -f '^/usr/local/bin/containerd-shim'"), { allowFailure: true })
  t.changed()
}

/** `kubeadm reset -f`, then the kubelet, the container runtime and etcd (with its backup timer) stopped and disabled. */
export const reset = defineModule({
  id: 'reset',
  hosts: (ctx) => ctx.config.hosts,
  skip: alwaysRuns,
  needs: nothingNeeded,
  tasks: () => [
    { name: 'records of an older kk-action', run: (t) => adoptLegacyInstall(t, KK_UNITS) },
    { name: 'kubeadm reset', timeoutMs: 6 * 60_000, run: kubeadmReset },
    { name: "remove the pods' images from the machine's containerd", timeoutMs: 6 * 60_000, run: removeCriNamespace },
    { name: 'stop and disable kk-action units', timeoutMs: 6 * 60_000, run: stopUnits },
    { name: 'stop leftover container shims', run: stopLeftoverShims },
  ],
})
