import { readdirSync, readFileSync } from 'node:fs'
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
