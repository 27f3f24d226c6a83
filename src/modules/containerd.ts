import { posix } from 'node:path'
import { raw, sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import type { ClusterConfig } from '../config/types.js'
import { defineModule, kubernetesNodes, placeholder, type ModuleDefinition, type NodeFile } from './module.js'
import {
  CERTS_D, CONTAINERD_SOCKET, CONTAINERD_UNIT, renderContainerdConfig, renderCrictlConfig,
} from './runtime-containerd-config.js'
import {
  certsPaths, credentialPlaceholders, HOSTS_TOML_MARK, registryCredentials, registryHosts, renderHostsToml, type CertsFound,
  type RegistryCredential, type RegistryHost,
} from './runtime-registry.js'
import { dataDirFromSpec, expectDaemonVersion, kubeletPullCredentialsPlaceholder, writeKubeletPullCredentials } from './runtime-service.js'
import { ensureServiceCurrent, installArchiveInto, installBinary, putNodeFile, requestRestart } from './steps.js'

const BIN = '/usr/local/bin'
const CTR = `${BIN}/ctr`
const CRICTL = `${BIN}/crictl`
const RUNC = '/usr/local/sbin/runc'
const CONFIG = '/etc/containerd/config.toml'
const UNIT = '/etc/systemd/system/containerd.service'

export interface ContainerdOptions {
  /**
   * containerd's `restrict_oom_score_adj`. `auto` (the default) asks each node whether root may lower an
   * oom_score_adj: ordinary machines can (false); containers and user namespaces without CAP_SYS_RESOURCE
   * cannot, and there CRI sandboxes only start with it set (true).
   */
  restrictOomScoreAdj?: boolean | 'auto'
}

/** containerd (+ shims, ctr), runc and crictl as the CRI runtime, configured for the cluster's registries. */
export function containerdModule(options: ContainerdOptions = {}): ModuleDefinition {
  return defineModule({
    id: 'containerd',
    hosts: kubernetesNodes,
    skip: ({ config }) => {
      const manager = config.kubernetes.containerManager
      return manager === 'containerd' ? undefined : `kubernetes.containerManager is ${manager}`
    },
    needs: () => ['containerd', 'runc', 'crictl'],
    tasks: () => [
      { name: 'install containerd, runc and crictl', retries: 2, timeoutMs: 10 * 60_000, run: installBinaries },
      { name: 'configure containerd', retries: 2, timeoutMs: 3 * 60_000, run: (t) => configure(t, options) },
      { name: 'start containerd', retries: 2, timeoutMs: 3 * 60_000, run: start },
      { name: 'verify containerd', retries: 4, retryDelayMs: 3000, timeoutMs: 2 * 60_000, run: verify },
    ],
    files: (ctx) => {
      const restrict = options.restrictOomScoreAdj ?? 'auto'
      const config = containerdConfigFile(ctx.config, {
        version: ctx.versions.containerd, sandboxImage: ctx.images.sandbox, restrictOomScoreAdj: restrict === true, credentials: credentialPlaceholders(registryCredentials(ctx.config)),
      })
      const certs = new Map(certsPaths(ctx.config).map((dir) => [dir, { ca: [placeholder(`the *.crt files found in ${dir} on the node`)], client: [] }]))
      const pullCredentials = kubeletPullCredentialsPlaceholder(ctx.config)
      return [
        restrict === 'auto' ? { ...config, note: 'restrict_oom_score_adj is decided on each node: true where root cannot lower oom_score_adj (a container)' } : config,
        CONTAINERD_UNIT_FILE,
        ...registryHostsFiles(registryHosts(ctx.config, certs)),
        CRICTL_CONFIG_FILE,
        ...(pullCredentials ? [pullCredentials] : []),
      ]
    },
  })
}

/** config.toml; registry passwords may be in it: never world-readable, no copy left on the runner. */
export function containerdConfigFile(
  config: ClusterConfig, facts: { version: string; sandboxImage: string; restrictOomScoreAdj: boolean; credentials: RegistryCredential[] },
): NodeFile {
  const content = renderContainerdConfig({
    version: facts.version,
    sandboxImage: facts.sandboxImage,
    root: dataDirFromSpec(config, 'containerdDataDir') ?? '/var/lib/containerd',
    restrictOomScoreAdj: facts.restrictOomScoreAdj,
    credentials: facts.credentials,
  })
  // A packaged containerd's own config.toml is kept for the delete pipeline to put back.
  return { path: CONFIG, mode: 0o600, content, secret: true, keepOriginal: true }
}

const CONTAINERD_UNIT_FILE: NodeFile = { path: UNIT, mode: 0o644, content: CONTAINERD_UNIT }
const CRICTL_CONFIG_FILE: NodeFile = {
  path: '/etc/crictl.yaml', mode: 0o644, content: renderCrictlConfig(`unix://${CONTAINERD_SOCKET}`), keepOriginal: true,
}

function registryHostsFiles(registries: RegistryHost[]): NodeFile[] {
  return registries.map((registry) => ({ path: `${CERTS_D}/${registry.host}/hosts.toml`, mode: 0o644, content: renderHostsToml(registry) }))
}

export const containerd = containerdModule()

async function installBinaries(t: TaskContext): Promise<void> {
  // A running containerd keeps its replaced binary until it restarts; runc is run afresh for every container.
  if (await installArchiveInto(t, 'containerd', BIN)) await requestRestart(t, 'containerd')
  await installBinary(t, 'runc', RUNC)
  await installArchiveInto(t, 'crictl', BIN)
}

async function configure(t: TaskContext, options: ContainerdOptions): Promise<void> {
  const restrictOomScoreAdj = await decideRestrictOomScoreAdj(t, options.restrictOomScoreAdj ?? 'auto')
  const config = containerdConfigFile(t.config, {
    version: t.artifact('containerd').artifact.version, sandboxImage: t.plan.images.sandbox, restrictOomScoreAdj, credentials: registryCredentials(t.config),
  })
  const configChanged = await putNodeFile(t, config)
  const unitChanged = await putNodeFile(t, CONTAINERD_UNIT_FILE)
  if (unitChanged) await t.exec(raw('systemctl daemon-reload'))
  if (configChanged || unitChanged) await requestRestart(t, 'containerd')
  // containerd reads certs.d on every pull: hosts.toml changes need no restart.
  await syncRegistryHosts(t, registryHosts(t.config, await findCerts(t)))
  await putNodeFile(t, CRICTL_CONFIG_FILE)
  await writeKubeletPullCredentials(t)
}

async function start(t: TaskContext): Promise<void> {
  await ensureServiceCurrent(t, 'containerd', { changed: false, unitsChanged: false })
}

async function verify(t: TaskContext): Promise<void> {
  const version = await t.exec(sh`${CTR} --address ${CONTAINERD_SOCKET} version`, { timeoutMs: 30_000 })
  expectDaemonVersion(t, 'containerd', serverVersion(version.stdout), t.artifact('containerd').artifact.version)
  await expectCriPluginLoaded(t)
  await t.exec(sh`${CRICTL} version`, { timeoutMs: 30_000 })
}

/** `ctr version` prints a Client and a Server block; the daemon's version is the one under Server. */
function serverVersion(output: string): string | undefined {
  const server = output.split(/^Server:/m)[1]
  return server?.match(/^\s*Version:\s*(\S+)/m)?.[1]
}

/** A config containerd cannot use does not stop the daemon: it only skips the CRI plugin, which kubelet needs. */
async function expectCriPluginLoaded(t: TaskContext): Promise<void> {
  const plugins = await t.exec(sh`${CTR} --address ${CONTAINERD_SOCKET} plugins ls`, { timeoutMs: 30_000 })
  const cri = plugins.stdout.split('\n').find((line) => /^io\.containerd\.grpc\.v1\s+cri\s/.test(line))
  const status = cri?.trim().split(/\s+/).pop()
  if (status === 'ok') return
  const why = await t.exec(raw("journalctl -u containerd --no-pager -n 300 -o cat | grep -i 'failed to load plugin' | tail -n 3"), { allowFailure: true })
  throw new Error(`containerd's CRI plugin is ${status ?? 'missing'}, so the kubelet cannot use containerd: ` +
    `${why.stdout.trim() || 'see journalctl -u containerd'}`)
}

/** Whether CRI sandboxes must not ask for a negative oom_score_adj on this node. */
async function decideRestrictOomScoreAdj(t: TaskContext, setting: boolean | 'auto'): Promise<boolean> {
  if (setting !== 'auto') return setting
  // The inner shell tries to lower its own score, as containerd does for pod sandboxes.
  const probe = await t.exec(raw("sh -c 'echo -998 > /proc/self/oom_score_adj' 2>/dev/null"), { allowFailure: true })
  if (probe.code === 0) return false
  t.warn('root on this host cannot lower oom_score_adj (no CAP_SYS_RESOURCE: a container or user namespace); ' +
    'containerd gets restrict_oom_score_adj = true so pod sandboxes can start')
  return true
}

/** CA and client certificates in each auth entry's certsPath on this node (Docker's certs.d naming). */
async function findCerts(t: TaskContext): Promise<Map<string, CertsFound>> {
  const found = new Map<string, CertsFound>()
  for (const dir of certsPaths(t.config)) {
    const listing = await t.exec(sh`ls -1 -- ${dir}`, { allowFailure: true })
    const files = listing.code === 0 ? listing.stdout.split('\n').filter(Boolean) : []
    if (files.length === 0) t.warn(`registry certsPath ${dir} has no files on this host`)
    const path = (file: string) => posix.join(dir, file)
    found.set(dir, {
      ca: files.filter((f) => f.endsWith('.crt')).map(path),
      client: files.filter((f) => f.endsWith('.cert') && files.includes(`${f.slice(0, -5)}.key`))
        .map((f) => [path(f), path(`${f.slice(0, -5)}.key`)] as [string, string]),
    })
  }
  return found
}

/** Writes one hosts.toml per registry and removes those kk-action wrote earlier for registries now gone. */
async function syncRegistryHosts(t: TaskContext, registries: RegistryHost[]): Promise<void> {
  for (const file of registryHostsFiles(registries)) await putNodeFile(t, file)
  const ours = await t.exec(sh`grep -l -x -F -- ${HOSTS_TOML_MARK} ${raw(`${CERTS_D}/*/hosts.toml`)} 2>/dev/null`, { allowFailure: true })
  const wanted = new Set(registries.map((r) => `${CERTS_D}/${r.host}/hosts.toml`))
  for (const file of ours.stdout.split('\n').filter((f) => f && !wanted.has(f))) {
    await t.exec(sh`rm -f -- ${file} && rmdir -- ${posix.dirname(file)} 2>/dev/null; true`)
    t.changed()
  }
}
