import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PIPELINES } from '../../src/modules/index.js'
import { raw } from '../../src/nodes/quote.js'
import { CancelledError } from '../../src/pipeline/errors.js'
import type { Task } from '../../src/pipeline/types.js'
import { runPipeline } from '../../src/pipeline/runner.js'
import { buildPlan } from '../../src/plan/build.js'
import { Redactor } from '../../src/report/redact.js'
import { DeploymentReport } from '../../src/report/report.js'
import { FakeConnection } from '../pipeline/fake-connection.js'
import { makeConfig } from '../plan/make-config.js'

describe('a cancelled deploy (SIGINT in the main step aborts the runner)', () => {
  it('reports the cancelled module, the unfinished command\'s output and the modules never run', async () => {
    const config = makeConfig({ controlPlanes: 1, workers: 1 })
    const { plan } = await buildPlan(config, { until: 'configure-os' })
    const abort = new AbortController()
    // precheck passes; configure-os's command prints a line and then hangs until the runner is aborted.
    const sysctl: Task = { name: 'sysctl', run: async (t) => { await t.exec(raw('sysctl --system')) } }
    const modules = PIPELINES.create.map((m) => ({ ...m, tasks: () => (m.id === 'configure-os' ? [sysctl] : [{ name: 'noop', run: async () => {} }]) }))
    const connect = async (host: { name: string }) => new FakeConnection(host.name, () => new Promise((resolve) => {
      setTimeout(() => abort.abort('SIGINT'), 20)
      abort.signal.addEventListener('abort', () => resolve({ code: 130, lines: [`applying sysctls on ${host.name}`] }))
    }))
    const dir = mkdtempSync(join(tmpdir(), 'kk-cancel-'))
    const report = DeploymentReport.open({ dir, plan, redactor: new Redactor() })
    const error = await runPipeline({ plan, config, artifacts: new Map(), concurrency: 2, events: report, signal: abort.signal, modules, connect })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CancelledError)
    const markdown = report.finish({ error })

    expect(markdown).toContain('## kk-action deploy: cancelled in module `configure-os`')
    expect(markdown).toContain('> deploy cancelled (SIGINT)')
    expect(markdown).toMatch(/\| configure-os \| ⛔ cancelled \| node1, node2 \|/)
    expect(markdown).toContain('| sync-binaries | after --until configure-os |')
    expect(markdown).not.toContain('### Failing hosts') // cancelled is not failed
    const log = readFileSync(join(dir, 'hosts/node1/configure-os.log'), 'utf8')
    expect(log).toMatch(/\$ sysctl --system\n {2}out\| applying sysctls on node1\n.* exit 130 after/)
    expect(log).toMatch(/task "sysctl" cancelled after/)
    const events = readFileSync(join(dir, 'events.ndjson'), 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line))
    expect(events.at(-1)).toMatchObject({ type: 'module-end', module: 'configure-os', status: 'cancelled' })
  })
})
