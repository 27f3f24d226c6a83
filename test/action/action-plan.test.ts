import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { node24, repoRoot, run } from '../support/bundle.js'

/** Runs dist/main/index.js the way the runner does: INPUT_* variables and the GITHUB_* files. */
async function runAction(inputs: Record<string, string>, env: Record<string, string> = {}) {
  const workspace = mkdtempSync(join(tmpdir(), 'kk-action-ws-'))
  const files = { GITHUB_OUTPUT: 'output', GITHUB_STEP_SUMMARY: 'summary', GITHUB_STATE: 'state', GITHUB_ENV: 'env' }
  const paths = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, join(workspace, f)]))
  for (const path of Object.values(paths)) writeFileSync(path, '')
  const inputEnv = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]))
  const result = await run(node24(), [join(repoRoot, 'dist/main/index.js')], {
    cwd: workspace,
    env: { PATH: process.env.PATH, RUNNER_TEMP: workspace, GITHUB_WORKSPACE: workspace, ...paths, ...inputEnv, ...env },
  })
  const read = (key: string) => readFileSync(paths[key], 'utf8')
  return { result, workspace, output: read('GITHUB_OUTPUT'), summary: read('GITHUB_STEP_SUMMARY') }
}

/** Values from the GITHUB_OUTPUT file format (name<<delimiter ... delimiter). */
function outputs(text: string): Record<string, string> {
  const found: Record<string, string> = {}
  const pattern = /^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm
  for (const match of text.matchAll(pattern)) found[match[1]] = match[3]
  return found
}

const CONFIG = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata: {name: sample}
spec:
  hosts:
  - {name: node1, address: 10.0.0.2, internalAddress: 10.0.0.2, password: "\${NODE_PASSWORD}"}
  roleGroups:
    etcd: [node1]
    control-plane: [node1]
    worker: [node1]
  kubernetes:
    version: v1.26.13
    containerManager: containerd
`

describe('the bundled action, command: plan, under Node 24', async () => {
  it('sets the plan output, writes the job summary and masks ${ENV} secrets', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'kk-cfg-'))
    writeFileSync(join(ws, 'cluster.yaml'), CONFIG)
    const { result, output, summary } = await runAction({ config: join(ws, 'cluster.yaml'), command: 'plan' }, { NODE_PASSWORD: 'hunter2-secret' })
    expect(result.status, result.stdout + result.stderr).toBe(0)
    const values = outputs(output)
    const plan = JSON.parse(values.plan)
    expect(plan.modules.find((m: { id: string }) => m.id === 'cri-dockerd')).toMatchObject({ skip: true })
    expect(values['kubernetes-version']).toBe('v1.26.13')
    expect(summary).toContain('| cri-dockerd | skipped | kubernetes.containerManager is containerd |')
    expect(summary).toMatch(/\| containerd \| 1\.7\.13 \| amd64 \|/)
    expect(result.stdout).toContain('::add-mask::hunter2-secret')
    expect(result.stdout.replace('::add-mask::hunter2-secret', '')).not.toContain('hunter2-secret')
  })

  it('fails with an ::error annotation at the config line on a bad config, no stack trace', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'kk-cfg-'))
    writeFileSync(join(ws, 'cluster.yaml'), CONFIG.replace('containerManager: containerd', 'containerManager: isula'))
    const { result } = await runAction({ config: join(ws, 'cluster.yaml'), command: 'plan' }, { NODE_PASSWORD: 'x' })
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(/^::error title=kk-action,file=.*cluster\.yaml,line=13,col=\d+::.*spec\.kubernetes\.containerManager/m)
    expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /)
  })

  it('rejects an unknown command input with an annotation', async () => {
    const { result } = await runAction({ command: 'destroy' })
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(/::error.*input command is "destroy".*Allowed: deploy, plan, delete/)
  })
})
