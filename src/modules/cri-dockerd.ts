import { raw, sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { atLeast } from '../plan/version.js'
import { docker } from './docker.js'
import { defineModule, kubernetesNodes, type NodeFile } from './module.js'
import { ensureServiceState, installArchiveInto, putNodeFile, requestRestart } from './steps.js'

const BIN = '/usr/local/bin'
const SERVICE = 'cri-docker.service'
const SOCKET = 'cri-docker.socket'
const SOCKET_PATH = '/run/cri-dockerd.sock'

// Upstream's units (Mirantis/cri-dockerd packaging/systemd): the service is socket-activated (fd://), so the
// kubelet's first CRI call starts it. The start timeout is bounded instead of upstream's 0.
function serviceUnit(sandboxImage: string): string {
  return `[Unit]
Description=CRI Interface for Docker Application Container Engine
Documentation=https://docs.mirantis.com
After=network-online.target firewalld.service docker.service
Wants=network-online.target
Requires=${SOCKET}

[Service]
Type=notify
ExecStart=${BIN}/cri-dockerd --container-runtime-endpoint fd:// --pod-infra-container-image ${sandboxImage} --network-plugin=cni
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutStartSec=300
RestartSec=2
Restart=always
StartLimitBurst=3
StartLimitInterval=60s
LimitNOFILE=infinity
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
KillMode=process

[Install]
WantedBy=multi-user.target
`
}

const SOCKET_UNIT = `[Unit]
Description=CRI Docker Socket for the API
PartOf=${SERVICE}

[Socket]
ListenStream=${SOCKET_PATH}
SocketMode=0660
SocketUser=root
SocketGroup=docker

[Install]
WantedBy=sockets.target
`

/** The CRI shim for Docker, needed since Kubernetes v1.24 removed dockershim. */
export const criDockerd = defineModule({
  id: 'cri-dockerd',
  hosts: kubernetesNodes,
  // Docker's own rule, and only where Kubernetes no longer carries dockershim.
  skip: (ctx) => {
    const version = ctx.config.kubernetes.version
    return docker.skip(ctx) ?? (atLeast(version, 'v1.24.0') ? undefined : `kubernetes.version is ${version} (< v1.24: dockershim is built in)`)
  },
  needs: () => ['cri-dockerd'],
  tasks: () => [
    { name: 'install cri-dockerd', retries: 2, timeoutMs: 10 * 60_000, run: install },
    { name: 'configure cri-dockerd', retries: 2, timeoutMs: 3 * 60_000, run: configure },
    { name: 'start cri-dockerd', retries: 2, timeoutMs: 3 * 60_000, run: start },
    { name: 'verify cri-dockerd', retries: 4, retryDelayMs: 3000, timeoutMs: 60_000, run: verify },
  ],
  files: (ctx) => [serviceFile(ctx.images.sandbox), SOCKET_FILE],
})

function serviceFile(sandboxImage: string): NodeFile {
  return { path: `/etc/systemd/system/${SERVICE}`, mode: 0o644, content: serviceUnit(sandboxImage) }
}

const SOCKET_FILE: NodeFile = { path: `/etc/systemd/system/${SOCKET}`, mode: 0o644, content: SOCKET_UNIT }

async function install(t: TaskContext): Promise<void> {
  if (await installArchiveInto(t, 'cri-dockerd', BIN)) await requestRestart(t, SERVICE)
}

async function configure(t: TaskContext): Promise<void> {
  const service = await putNodeFile(t, serviceFile(t.plan.images.sandbox))
  const socket = await putNodeFile(t, SOCKET_FILE)
  if (service || socket) {
    await t.exec(raw('systemctl daemon-reload'))
    await requestRestart(t, SERVICE)
  }
}

/** The socket listens; the service itself starts on the first connection, or restarts now if it runs stale. */
async function start(t: TaskContext): Promise<void> {
  await ensureServiceState(t, { enable: [SOCKET, SERVICE], start: SOCKET, restart: SERVICE })
}

async function verify(t: TaskContext): Promise<void> {
  const socket = await t.exec(sh`systemctl is-active ${SOCKET}`, { allowFailure: true })
  if (socket.stdout.trim() !== 'active') throw new Error(`${SOCKET} is ${socket.stdout.trim() || 'not active'}`)
  const listening = await t.exec(sh`test -S ${SOCKET_PATH}`, { allowFailure: true })
  if (listening.code !== 0) throw new Error(`${SOCKET} is active but ${SOCKET_PATH} is not a socket`)
  const version = await t.exec(sh`${BIN}/cri-dockerd --version 2>&1`, { timeoutMs: 30_000 })
  const want = t.artifact('cri-dockerd').artifact.version.replace(/^v/, '')
  if (!version.stdout.includes(want)) {
    throw new Error(`${BIN}/cri-dockerd reports "${version.stdout.trim()}", not version ${want}`)
  }
}
