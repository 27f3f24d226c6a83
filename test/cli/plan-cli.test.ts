import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { node24, runCli } from '../support/bundle.js'
import { startMirror, type Mirror } from '../support/mirror.js'

const dir = mkdtempSync(join(tmpdir(), 'kk-plan-cli-'))

function config(name: string, kubernetes: string): string {
  const file = join(dir, name)
  writeFileSync(file, `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata:
  name: sample
spec:
  hosts:
  - {name: node1, address: 10.0.0.2, internalAddress: 10.0.0.2, user: root, password: "\${NODE_PASSWORD}"}
  roleGroups:
    etcd: [node1]
    control-plane: [node1]
    worker: [node1]
  kubernetes:
${kubernetes}
`)
  return file
}

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at /)

describe('kk-action plan (the bundled CLI)', () => {
  let mirror: Mirror
  beforeAll(async () => {
    // Stands in for dl.k8s.io: v1.28.16 is in neither checksum table, so the plan reads `<file>.sha256`.
    const files: Record<string, Buffer> = {}
    for (const [name, digit] of [['kubeadm', 'a'], ['kubelet', 'b'], ['kubectl', 'c']]) {
      files[`/release/v1.28.16/bin/linux/amd64/${name}.sha256`] = Buffer.from(`${digit.repeat(64)}\n`)
    }
    mirror = await startMirror({ files })
  })
  afterAll(() => mirror?.stop())

  const env = { NODE_PASSWORD: 'pw' }

  it('--json prints exactly one JSON object; containerd + v1.28.16 plans no docker or cri-dockerd artifact', async () => {
    const file = config('v128.yaml', '    version: v1.28.16\n    containerManager: containerd')
    const result = await runCli(['plan', '-f', file, '--json', '--mirror', mirror.url], { env, node: node24() })
    expect(result.status, result.stderr).toBe(0)
    const plan = JSON.parse(result.stdout)
    expect(plan.modules.find((m: { id: string }) => m.id === 'cri-dockerd'))
      .toMatchObject({ skip: true, reason: 'kubernetes.containerManager is containerd' })
    expect(plan.artifacts.map((a: { name: string }) => a.name)).toEqual(
      expect.not.arrayContaining(['docker', 'cri-dockerd']))
    expect(plan.artifacts.find((a: { name: string }) => a.name === 'kubeadm')).toMatchObject({ sha256: 'a'.repeat(64), sha256Source: 'upstream' })
    expect(result.stderr).toMatch(/kubeadm v1\.28\.16 amd64 is not in kk-action's catalog/)
    expect(mirror.requestsFor('/release/v1.28.16/bin/linux/amd64/kubeadm.sha256')).toHaveLength(1)
  })

  it('a missing containerManager means docker, with a notice, and cri-dockerd runs for v1.26', async () => {
    const file = config('default-cm.yaml', '    version: v1.26.13')
    const result = await runCli(['plan', '-f', file, '--json'], { env })
    expect(result.status, result.stderr).toBe(0)
    const plan = JSON.parse(result.stdout)
    expect(plan.containerManager).toBe('docker')
    expect(plan.modules.find((m: { id: string }) => m.id === 'cri-dockerd').skip).toBe(false)
    expect(result.stderr).toMatch(/containerManager/)
    expect(result.stderr).toMatch(/cri-dockerd/)
  })

  it('overrides from flags apply, and the table names the skip reasons', async () => {
    const file = config('table.yaml', '    version: v1.26.13\n    containerManager: docker')
    const result = await runCli(['plan', '-f', file, '--container-manager', 'containerd', '--kubernetes-version', 'v1.30.14'], { env })
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^create pipeline: Kubernetes v1\.30\.14, containerd/)
    expect(result.stdout).toMatch(/cri-dockerd\s+skip\s+kubernetes\.containerManager is containerd/)
  })

  it('a config error exits 1 with one line naming file:line:column and field, no stack', async () => {
    const file = config('bad.yaml', '    version: v1.26.13\n    containerManager: cri-o')
    const result = await runCli(['plan', '-f', file], { env })
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(new RegExp(`^error: ${file.replace(/[.]/g, '\\.')}:\\d+:\\d+: spec\\.kubernetes\\.containerManager`, 'm'))
    expect(result.stdout).toBe('')
    noStack(result.stderr)
  })

  it('bad usage exits 2', async () => {
    expect((await runCli(['plan'])).status).toBe(2)
    expect((await runCli(['frobnicate'])).status).toBe(2)
    expect((await runCli(['plan', '-f', 'x', '--no-such-flag'])).status).toBe(2)
  })
})
