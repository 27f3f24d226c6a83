/**
 * Where the kubeconfig module writes without `--kubeconfig` and outside Actions: one file per cluster config,
 * so two deploys of different clusters on one machine (parallel CLI runs) never overwrite each other's.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ClusterConfig } from '../../src/config/types.js'
import { kubeconfig } from '../../src/modules/kubeconfig.js'
import type { PlanContext } from '../../src/plan/types.js'
import { SHARED_KUBECONFIG_PATH, type TaskContext } from '../../src/pipeline/types.js'
import { makeConfig } from '../plan/make-config.js'

const ADMIN = (server: string) => `apiVersion: v1
clusters:
- cluster: {certificate-authority-data: Q0EK, server: 'https://lb.kubesphere.local:6443'}
  name: ${server}
kind: Config
users:
- name: kubernetes-admin
  user: {client-certificate-data: Q0VSVAo=, client-key-data: S0VZCg==}
`

/** A stand-in for the first control plane: `download` hands over an admin.conf naming its cluster. */
function context(config: ClusterConfig, shared: Map<string, unknown>): TaskContext {
  return {
    host: config.hosts[0], config, plan: {} as TaskContext['plan'], module: 'kubeconfig', shared,
    exec: () => { throw new Error('the kubeconfig module runs nothing on the node') },
    upload: () => { throw new Error('the kubeconfig module uploads nothing') },
    async download(_remote, local) { writeFileSync(local, ADMIN(config.name)); return { changed: true, bytes: 1 } },
    artifact: () => { throw new Error('no artifact') },
    changed: () => undefined, log: () => undefined, secret: () => undefined, warn: () => undefined,
  }
}

async function writeFor(config: ClusterConfig): Promise<string> {
  const shared = new Map<string, unknown>()
  const [task] = kubeconfig.tasks!({} as PlanContext)
  await task.run(context(config, shared))
  return shared.get(SHARED_KUBECONFIG_PATH) as string
}

describe('kubeconfig: the default path outside Actions', () => {
  let home: string
  const saved = { HOME: process.env.HOME, RUNNER_TEMP: process.env.RUNNER_TEMP }
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'kk-home-'))
    process.env.HOME = home
    delete process.env.RUNNER_TEMP
  })
  afterEach(() => {
    process.env.HOME = saved.HOME
    if (saved.RUNNER_TEMP === undefined) delete process.env.RUNNER_TEMP
    else process.env.RUNNER_TEMP = saved.RUNNER_TEMP
    rmSync(home, { recursive: true, force: true })
  })

  it('two clusters (different config files) get two files under ~/.kube/kk-action, each its own, 0600 in a 0700 directory', async () => {
    const first = { ...makeConfig(), file: '/repo/a/cluster.yaml', name: 'alpha' }
    const second = { ...makeConfig(), file: '/repo/b/cluster.yaml', name: 'beta' }
    const [a, b] = await Promise.all([writeFor(first), writeFor(second)])
    expect(a).not.toBe(b)
    expect(a).toMatch(new RegExp(`^${home}/\\.kube/kk-action/alpha-[0-9a-f]{8}\\.conf$`))
    expect(readFileSync(a, 'utf8')).toContain('name: alpha')
    expect(readFileSync(b, 'utf8')).toContain('name: beta')
    expect(statSync(a).mode & 0o777).toBe(0o600)
    expect(statSync(join(home, '.kube/kk-action')).mode & 0o777).toBe(0o700)
    // The same config again: the same file.
    expect(await writeFor(first)).toBe(a)
  })

  it('in Actions: RUNNER_TEMP/kubeconfig, as before', async () => {
    process.env.RUNNER_TEMP = home
    expect(await writeFor(makeConfig())).toBe(join(home, 'kubeconfig'))
  })
})
