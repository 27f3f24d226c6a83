import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { ClusterConfig } from '../config/types.js'
import type { TaskContext } from '../pipeline/types.js'
import { SHARED_KUBECONFIG_DESTINATION, SHARED_KUBECONFIG_PATH } from '../pipeline/types.js'
import { ADMIN_CONF } from './kubeadm-config.js'
import { kubeconfigSecrets, runnerServer, withServer } from './kubeadm-kubeconfig.js'
import { alwaysRuns, defineModule, nothingNeeded } from './module.js'

/**
 * In Actions RUNNER_TEMP/kubeconfig (private to the job); elsewhere one file per cluster config,
 * ~/.kube/kk-action/<metadata.name>-<8 hex of the config file's path>.conf, so parallel runs for different
 * clusters on one machine never overwrite each other's.
 */
export function defaultKubeconfigPath(config: ClusterConfig): string {
  if (process.env.RUNNER_TEMP) return join(process.env.RUNNER_TEMP, 'kubeconfig')
  const id = createHash('sha256').update(resolve(config.file)).digest('hex').slice(0, 8)
  const name = config.name.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^\.+/, '') || 'cluster'
  return join(homedir(), '.kube', 'kk-action', `${name}-${id}.conf`)
}

/** `--kubeconfig PATH` when the caller seeded one, else the default path. */
function destination(t: TaskContext): string {
  const requested = t.shared.get(SHARED_KUBECONFIG_DESTINATION)
  if (typeof requested === 'string' && requested) return resolve(requested)
  return defaultKubeconfigPath(t.config)
}

async function fetchAdminConf(t: TaskContext): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kk-action-kubeconfig-'))
  try {
    const local = join(dir, 'admin.conf')
    await t.download(ADMIN_CONF, local)
    return readFileSync(local, 'utf8')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Replaces the file atomically, never readable by others, not even for a moment. The temporary file is
 * created new inside a private directory, so nothing planted beside the target (a symlink in /tmp) is followed.
 */
function writePrivate(path: string, content: string): boolean {
  let current: string | undefined
  try { current = readFileSync(path, 'utf8') } catch { current = undefined }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const privateDir = mkdtempSync(join(dirname(path), '.kk-kubeconfig-'))
  try {
    const temp = join(privateDir, 'kubeconfig')
    writeFileSync(temp, content, { mode: 0o600, flag: 'wx' })
    chmodSync(temp, 0o600)
    renameSync(temp, path)
  } finally {
    rmSync(privateDir, { recursive: true, force: true })
  }
  return current !== content
}

async function writeKubeconfig(t: TaskContext): Promise<void> {
  const admin = await fetchAdminConf(t)
  for (const secret of kubeconfigSecrets(admin)) t.secret(secret)
  const server = runnerServer(t.config)
  const path = destination(t)
  if (writePrivate(path, withServer(admin, server))) t.changed()
  t.shared.set(SHARED_KUBECONFIG_PATH, path)
  t.log(`kubeconfig for ${server} written to ${path} (mode 0600)`)
}

/** admin.conf brought to the runner, pointed at an address it reaches, mode 0600. */
export const kubeconfig = defineModule({
  id: 'kubeconfig',
  hosts: (ctx) => [ctx.firstControlPlane],
  skip: alwaysRuns,
  needs: nothingNeeded,
  tasks: () => [{ name: 'write the kubeconfig on the runner', retries: 2, run: writeKubeconfig }],
})
