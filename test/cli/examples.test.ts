import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot, run, runCli } from '../support/bundle.js'

const examples = readdirSync(join(repoRoot, 'examples')).filter((f) => f.endsWith('.yaml'))

describe('every example passes `kk-action plan`', () => {
  it('there are the examples the README promises', () => {
    expect(examples.sort()).toEqual(['air-gapped.yaml', 'all-in-one.yaml', 'bastion.yaml', 'docker-cri-dockerd.yaml', 'ha-haproxy.yaml'])
  })

  for (const example of examples) {
    it(example, async () => {
      const result = await runCli(['plan', '-f', join('examples', example), '--json'], { env: { NODES_PASSWORD: 'example-secret' } })
      expect(result.status, result.stderr).toBe(0)
      const plan = JSON.parse(result.stdout)
      expect(plan.modules.length).toBe(15)
      expect(plan.artifacts.length).toBeGreaterThan(0)
      for (const artifact of plan.artifacts) {
        // Chart sums come from the publishers' indexes, which this machine cannot reach: the preview says so.
        if (artifact.sha256Source === 'chart-index' && artifact.sha256 === '') {
          expect(result.stderr).toContain(`${artifact.name} ${artifact.version}: https://`)
          expect(result.stderr).toContain('its sha256 is left for deploy and fetch to read')
        } else {
          expect(artifact.sha256).toMatch(/^[0-9a-f]{64}$/)
        }
      }
    })
  }
})

describe('every example passes `kk-action render`', () => {
  const out = mkdtempSync(join(tmpdir(), 'kk-render-cli-'))

  for (const example of examples) {
    it(example, async () => {
      const dest = join(out, example)
      const result = await runCli(['render', '-f', join('examples', example), '--dest', dest], { env: { NODES_PASSWORD: 'example-secret' } })
      expect(result.status, result.stderr).toBe(0)
      expect(result.stderr).toMatch(/\d+ file\(s\) for \d+ host\(s\) in /)
      const index = JSON.parse(readFileSync(join(dest, 'kk-action-render.json'), 'utf8')) as { hosts: Record<string, Array<{ path: string; mode: string }>> }
      const plan = JSON.parse((await runCli(['plan', '-f', join('examples', example), '--json'], { env: { NODES_PASSWORD: 'x' } })).stdout)
      const first = plan.modules.find((m: { id: string }) => m.id === 'kubeadm-init').hosts[0]
      expect(existsSync(join(dest, first, 'etc/kubernetes/kubeadm-config.yaml'))).toBe(true)
      const runtime = plan.containerManager === 'containerd' ? 'etc/containerd/config.toml' : 'etc/docker/daemon.json'
      for (const host of plan.modules.find((m: { id: string }) => m.id === 'sync-binaries').hosts) expect(existsSync(join(dest, host, runtime))).toBe(true)
      for (const [host, files] of Object.entries(index.hosts)) {
        for (const file of files) expect((statSync(join(dest, host, file.path)).mode & 0o777).toString(8).padStart(4, '0')).toBe(file.mode)
      }
      expect(result.stderr).not.toContain('example-secret')
    })
  }

  it('exits 2 without --dest, 1 on a config error or a directory that is not an earlier render', async () => {
    const usage = await runCli(['render', '-f', 'examples/all-in-one.yaml'])
    expect(usage.status).toBe(2)
    expect(usage.stderr).toContain('--dest DIR is required')
    const bad = join(out, 'bad.yaml')
    writeFileSync(bad, 'apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Cluster\nmetadata: {name: x}\nspec:\n  kubernetes: {containerManager: cri-o}\n')
    const config = await runCli(['render', '-f', bad, '--dest', join(out, 'never')])
    expect(config.status).toBe(1)
    expect(existsSync(join(out, 'never'))).toBe(false)
    const foreign = mkdtempSync(join(out, 'foreign-'))
    writeFileSync(join(foreign, 'notes.txt'), 'mine')
    const refused = await runCli(['render', '-f', 'examples/all-in-one.yaml', '--dest', foreign])
    expect(refused.status).toBe(1)
    expect(refused.stderr).toMatch(/^error: .*is not empty and holds no earlier render/m)
    expect(refused.stderr).not.toMatch(/\n\s+at /)
  })
})

/** The README's shell blocks that run the bundled CLI must work as written on a fresh clone. */
describe('the README commands', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const commands = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n'))
    .map((line) => line.trim()).filter((line) => line.startsWith('node dist/cli/index.js'))

  it('has at least one runnable CLI command', () => {
    expect(commands.length).toBeGreaterThan(0)
  })

  for (const command of commands) {
    it(command, async () => {
      const result = await run('sh', ['-c', command], { env: { ...process.env, NODES_PASSWORD: 'x' } })
      expect(result.status, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/create pipeline: Kubernetes v\d+\.\d+\.\d+/)
    })
  }
})
