import { raw, sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { atLeast } from '../plan/version.js'
import type { ClusterConfig } from '../config/types.js'
import { defineModule, kubernetesNodes, type NodeFile } from './module.js'
import { renderCrictlConfig } from './runtime-containerd-config.js'
import { dockerRegistrySettings } from './runtime-registry.js'
import { dataDirFromSpec, expectDaemonVersion, kubeletPullCredentialsPlaceholder, writeKubeletPullCredentials } from './runtime-service.js'
import { UserError } from '../errors.js'
import { MACHINE_DIR } from './machine-own.js'
import { ensureServiceCurrent, ensureServiceState, installArchiveInto, putNodeFile, requestRestart } from './steps.js'

const BIN = '/usr/local/bin'
const DOCKER = `${BIN}/docker`
const DAEMON_JSON = '/etc/docker/daemon.json'

// Upstream's units (moby contrib/init/systemd) with the static bundle's path. Without --containerd, dockerd
// starts and supervises the bundle's own containerd. The start timeout is bounded instead of upstream's 0.
const DOCKER_SERVICE = `[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=network-online.target docker.socket firewalld.service time-set.target
Wants=network-online.target
Requires=docker.socket

[Service]
Type=notify
ExecStart=${BIN}/dockerd -H fd://
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutStartSec=300
RestartSec=2
Restart=always
StartLimitBurst=3
StartLimitInterval=60s
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
KillMode=process
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
`

const DOCKER_SOCKET = `[Unit]
Description=Docker Socket for the API

[Socket]
ListenStream=/run/docker.sock
SocketMode=0660
SocketUser=root
SocketGroup=docker

[Install]
WantedBy=sockets.target
`

/** The static Docker Engine bundle (it carries its own containerd and runc), the way KubeKey installs it. */
export const docker = defineModule({
  id: 'docker',
  hosts: kubernetesNodes,
  skip: ({ config }) => {
    const manager = config.kubernetes.containerManager
    if (manager === 'docker') return undefined
    return `kubernetes.containerManager is ${manager}`
  },
  needs: () => ['docker', 'crictl'],
  tasks: (ctx) => [
    { name: 'install docker and crictl', retries: 2, timeoutMs: 10 * 60_000, run: (t) => installBinaries(t, ctx.versions['cri-dockerd']) },
    { name: 'configure docker', retries: 2, timeoutMs: 3 * 60_000, run: configure },
    { name: 'start docker', retries: 2, timeoutMs: 6 * 60_000, run: start },
    { name: 'verify docker', retries: 4, retryDelayMs: 3000, timeoutMs: 2 * 60_000, run: verify },
  ],
  files: ({ config }) => {
    const pullCredentials = kubeletPullCredentialsPlaceholder(config)
    return [daemonJsonFile(config), DOCKER_SERVICE_FILE, DOCKER_SOCKET_FILE, crictlConfigFile(config), ...(pullCredentials ? [pullCredentials] : [])]
  },
})

const DOCKER_SERVICE_FILE: NodeFile = { path: '/etc/systemd/system/docker.service', mode: 0o644, content: DOCKER_SERVICE }
const DOCKER_SOCKET_FILE: NodeFile = { path: '/etc/systemd/system/docker.socket', mode: 0o644, content: DOCKER_SOCKET }

/** The machine's own daemon.json (a Docker package's, a runner image's) is kept for the delete pipeline to put back. */
export function daemonJsonFile(config: ClusterConfig): NodeFile {
  return { path: DAEMON_JSON, mode: 0o644, content: renderDaemonJson(config), keepOriginal: true }
}

function crictlConfigFile(config: ClusterConfig): NodeFile {
  return { path: '/etc/crictl.yaml', mode: 0o644, content: renderCrictlConfig(criEndpoint(config.kubernetes.version)), keepOriginal: true }
}

async function installBinaries(t: TaskContext, criDockerd: string): Promise<void> {
  const own = await machineDocker(t)
  if (own) useMachineDocker(t, own, criDockerd)
  else if (await installArchiveInto(t, 'docker', BIN)) await requestRestart(t, 'docker')
  await installArchiveInto(t, 'crictl', BIN)
}

/** The docker the machine ran before kk-action's first run (precheck's record): its dockerd and version. */
async function machineDocker(t: TaskContext): Promise<{ path: string; version: string } | undefined> {
  const record = await t.exec(sh`cat -- ${`${MACHINE_DIR}/units/docker.service`}`, { allowFailure: true })
  if (record.code !== 0 || !/active=active|enabled=enabled/.test(record.stdout)) return undefined
  const exec = (await t.exec(raw('systemctl show -p ExecStart --value docker.service'), { allowFailure: true })).stdout
  const path = /path=(\S+)/.exec(exec)?.[1]
  if (!path) return undefined
  const version = /(\d+\.\d+\.\d+)/.exec((await t.exec(sh`${path} --version`, { allowFailure: true })).stdout)?.[1]
  return version ? { path, version } : undefined
}

/**
 * The oldest docker that works with this Kubernetes: the kubelet's dockershim needs Docker API 1.26 (docker 1.13.1);
 * cri-dockerd from 0.3.12 needs API 1.42 (docker 23.0, Mirantis/cri-dockerd#346).
 */
export function minimumDocker(kubernetesVersion: string, criDockerdVersion: string): { version: string; why: string } {
  if (!atLeast(kubernetesVersion, 'v1.24.0')) return { version: '1.13.1', why: `the kubelet's dockershim (Kubernetes ${kubernetesVersion}) needs Docker API 1.26` }
  if (atLeast(criDockerdVersion, '0.3.12')) return { version: '23.0.0', why: `cri-dockerd ${criDockerdVersion} needs Docker API 1.42` }
  return { version: '1.13.1', why: `cri-dockerd ${criDockerdVersion} needs Docker API 1.26` }
}

const MACHINE_DOCKER = 'machine-docker'

/** A docker kk-action did not install is never replaced (nor downgraded): used when new enough, else refused. */
function useMachineDocker(t: TaskContext, own: { path: string; version: string }, criDockerd: string): void {
  const minimum = minimumDocker(t.config.kubernetes.version, criDockerd)
  if (!atLeast(own.version, minimum.version)) {
    throw new UserError(`this machine runs its own docker ${own.version} (${own.path}), older than the ${minimum.version} that ${minimum.why}; ` +
      'kk-action never replaces a docker it did not install', { host: t.host.name },
    `Upgrade the machine's docker to ${minimum.version} or later, or set kubernetes.containerManager: containerd`)
  }
  t.shared.set(`${MACHINE_DOCKER}:${t.host.name}`, own.version)
  t.log(`using the machine's own docker ${own.version} (${own.path}): kk-action does not replace a docker it did not install`)
}

const usesMachineDocker = (t: TaskContext) => t.shared.has(`${MACHINE_DOCKER}:${t.host.name}`)

async function configure(t: TaskContext): Promise<void> {
  if (usesMachineDocker(t)) {
    const { mirrors, insecure } = dockerRegistrySettings(t.config)
    if (mirrors.length || insecure.length) t.warn(`${t.host.name} runs its own docker: kk-action leaves its daemon.json alone, so registry mirrors and insecure registries from the config are not applied to it`)
    await putNodeFile(t, crictlConfigFile(t.config))
    await writeKubeletPullCredentials(t)
    return
  }
  await ensureDockerGroup(t)
  const daemonChanged = await putNodeFile(t, daemonJsonFile(t.config))
  const serviceChanged = await putNodeFile(t, DOCKER_SERVICE_FILE)
  const socketChanged = await putNodeFile(t, DOCKER_SOCKET_FILE)
  if (serviceChanged || socketChanged) await t.exec(raw('systemctl daemon-reload'))
  if (daemonChanged || serviceChanged || socketChanged) await requestRestart(t, 'docker')
  await putNodeFile(t, crictlConfigFile(t.config))
  await writeKubeletPullCredentials(t)
}

/** Kubernetes >= 1.24 reaches Docker through cri-dockerd; older ones through the kubelet's built-in dockershim. */
function criEndpoint(kubernetesVersion: string): string {
  return atLeast(kubernetesVersion, 'v1.24.0') ? 'unix:///run/cri-dockerd.sock' : 'unix:///var/run/dockershim.sock'
}

async function start(t: TaskContext): Promise<void> {
  if (usesMachineDocker(t)) return ensureServiceState(t, { enable: [], start: 'docker.service' })
  await ensureServiceCurrent(t, 'docker', { changed: false, unitsChanged: false, enable: ['docker.socket', 'docker.service'] })
}

async function verify(t: TaskContext): Promise<void> {
  // The machine's docker CLI may be elsewhere: the API socket is the same.
  const cli = usesMachineDocker(t) ? sh`docker -H unix:///run/docker.sock` : sh`${DOCKER}`
  const version = await t.exec(sh`${cli} version --format ${'{{.Server.Version}}'}`, { timeoutMs: 30_000 })
  if (!usesMachineDocker(t)) expectDaemonVersion(t, 'dockerd', version.stdout.trim() || undefined, t.artifact('docker').artifact.version)
  const driver = await t.exec(sh`${cli} info --format ${'{{.CgroupDriver}}'}`, { timeoutMs: 30_000 })
  if (driver.stdout.trim() !== 'systemd') {
    throw new Error(`dockerd uses the ${driver.stdout.trim() || 'unknown'} cgroup driver, not systemd as the kubelet expects: check ${DAEMON_JSON}` +
      (usesMachineDocker(t) ? ' (the machine\'s own docker: set "exec-opts": ["native.cgroupdriver=systemd"] there yourself)' : ''))
  }
}

/** The docker.socket unit hands the API socket to this group, as Docker's packages do. */
async function ensureDockerGroup(t: TaskContext): Promise<void> {
  const present = await t.exec(raw('getent group docker'), { allowFailure: true })
  if (present.code === 0) return
  await t.exec(raw('groupadd --system docker'))
  t.changed()
}

function renderDaemonJson(config: ClusterConfig): string {
  const { mirrors, insecure } = dockerRegistrySettings(config)
  const dataRoot = dataDirFromSpec(config, 'dockerDataDir')
  const daemon = {
    'exec-opts': ['native.cgroupdriver=systemd'],
    'log-driver': 'json-file',
    'log-opts': { 'max-size': '5m', 'max-file': '3' },
    ...(mirrors.length ? { 'registry-mirrors': mirrors } : {}),
    ...(insecure.length ? { 'insecure-registries': insecure } : {}),
    ...(dataRoot ? { 'data-root': dataRoot } : {}),
  }
  return `${JSON.stringify(daemon, null, 2)}\n`
}
