import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { TaskContext } from '../pipeline/types.js'
import { SHARED_KUBECONFIG_DESTINATION, SHARED_KUBECONFIG_PATH } from '../pipeline/types.js'
import { ADMIN_CONF } from './kubeadm-config.js'
import { kubeconfigSecrets, runnerServer, withServer } from './kubeadm-kubeconfig.js'
import { alwaysRuns, defineModule, nothingNeeded } from './module.js'

/** `--kubeconfig PATH` when the caller seeded one, else RUNNER_TEMP/kubeconfig (or the system temp directory). */
function destination(t: TaskContext): string {
  const requested = t.shared.get(SHARED_KUBECONFIG_DESTINATION)
  if (typeof requested === 'string' && requested) return resolve(requested)
  return join(process.env.RUNNER_TEMP || tmpdir(), 'kubeconfig')
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
  mkdirSync(dirname(path), { recursive: true })
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
