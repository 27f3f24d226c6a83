/** Small pieces the container runtime modules share. */
import type { ClusterConfig } from '../config/types.js'
import { UserError } from '../errors.js'
import { placeholder, type NodeFile } from './module.js'
import { registryCredentials, type RegistryCredential } from './runtime-registry.js'
import { putNodeFile } from './steps.js'
import type { TaskContext } from '../pipeline/types.js'

/**
 * KubeKey's `registry.containerdDataDir` / `registry.dockerDataDir`: where the runtime keeps images and
 * containers. The config keeps them in `spec` as written; undefined when not set.
 */
export function dataDirFromSpec(config: ClusterConfig, field: 'containerdDataDir' | 'dockerDataDir'): string | undefined {
  const registry = config.spec.registry as Record<string, unknown> | undefined
  const value = registry?.[field]
  if (value === undefined || value === '') return undefined
  if (typeof value !== 'string' || !value.startsWith('/') || /[\0\n]/.test(value)) {
    throw new UserError(`${JSON.stringify(value)} is not an absolute directory path`, { file: config.file, field: `spec.registry.${field}` })
  }
  return value.replace(/\/+$/, '') || '/'
}

/**
 * The daemon that answered must be the release we installed: another one (a distribution package still
 * running, an old binary not restarted) would make everything after this quietly use the wrong runtime.
 */
export function expectDaemonVersion(t: TaskContext, daemon: string, answered: string | undefined, installed: string): void {
  const want = installed.replace(/^v/, '')
  const got = answered?.replace(/^v/, '')
  if (got !== undefined && (got === want || got.startsWith(`${want}+`) || got.startsWith(`${want}~`) || got.startsWith(`${want}-`))) {
    t.log(`${daemon} ${answered} answers`)
    return
  }
  throw new Error(`${daemon} answers as version ${answered ?? '(none)'}, but kk-action installed ${installed}: ` +
    `another ${daemon} is running (a distribution package?) or the new binary was not started`)
}

// The kubelet reads image pull credentials from config.json in its root directory and hands them to the CRI
// with each pull: the route that works for every runtime (containerd's own registry auth tables are deprecated).
const KUBELET_PULL_CREDENTIALS = '/var/lib/kubelet/config.json'

/**
 * The config's registry auths as the kubelet's pull credentials, in the format `docker login` writes. Written
 * whole, without contacting the registries (they may not be reachable yet), and never read back: its content
 * must not reach the logs.
 */
export async function writeKubeletPullCredentials(t: TaskContext): Promise<void> {
  const file = kubeletPullCredentialsFile(registryCredentials(t.config))
  if (file) await putNodeFile(t, file)
}

const basicAuth = ({ username, password }: RegistryCredential) => Buffer.from(`${username}:${password}`).toString('base64')

/** The kubelet's config.json as render shows it: each `auth` (base64 of username:password) a placeholder. */
export function kubeletPullCredentialsPlaceholder(config: ClusterConfig): NodeFile | undefined {
  return kubeletPullCredentialsFile(registryCredentials(config),
    ({ host, username }) => placeholder(`secret: base64 of "${username}:" and the password of spec.registry.auths for ${host}`))
}

/** The kubelet's config.json for these credentials (each `auth` made by `auth`); undefined when there are none. */
export function kubeletPullCredentialsFile(credentials: RegistryCredential[], auth = basicAuth): NodeFile | undefined {
  if (credentials.length === 0) return undefined
  const auths = Object.fromEntries(credentials.map((credential) => [credential.host, { auth: auth(credential) }]))
  return { path: KUBELET_PULL_CREDENTIALS, mode: 0o600, secret: true, content: `${JSON.stringify({ auths }, null, 2)}\n` }
}
