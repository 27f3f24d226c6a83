/**
 * Round trips per host, module by module (issue 9's profile): the bundled CLI deploys onto fresh test nodes
 * (real containerd, runc, CNI plugins and etcd from the local mirror; kubeadm, kubelet, kubectl and crictl
 * doubles), first `deploy --until containerd` and its rerun, then the whole create pipeline (smoke-test
 * skipped: the doubles share no cluster state) and its rerun. Counts come from each run's events.ndjson:
 * `command` events are execs, `upload` events are uploads (one exec each over SSH).
 *
 *   npx vite-node bench/profile.ts [--nodes 2] [--no-bundle] [--cli DIR/index.js] [--keep-logs DIR]
 *
 * --cli: another bundled CLI (e.g. one built from `git archive` of an older commit, for a before/after).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildMirror, serveMirror } from '../test/fixtures/build-mirror.js'
import { writeClusterFile } from '../test/e2e/cluster.js'
import { startTestNodes } from '../test/nodes/testnodes.js'
import { repoRoot, run as runProcess } from '../test/support/bundle.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '2' },
    'no-bundle': { type: 'boolean', default: false },
    'keep-logs': { type: 'string' },
    cli: { type: 'string' },
  },
})

interface Row { module: string; execs: number; uploads: number; execMs: number; wallMs: number }
interface Run { label: string; ms: number; summary: string; rows: Row[]; load: string }

const load = () => loadavg().map((l) => l.toFixed(1)).join(' ')
const median = (numbers: number[]) => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)] ?? 0

/** Per module: execs and uploads per host (median over hosts), summed exec time on the slowest host. */
function profile(logs: string): Row[] {
  const events = readFileSync(join(logs, 'events.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  return events.filter((e) => e.type === 'module-end').map((end) => {
    const module = String(end.module)
    const perHost = (type: string, value: (e: Record<string, unknown>) => number) => {
      const sums = new Map<string, number>()
      for (const e of events) if (e.type === type && e.module === module) sums.set(String(e.host), (sums.get(String(e.host)) ?? 0) + value(e))
      return [...sums.values()]
    }
    return {
      module,
      execs: median(perHost('command', () => 1)),
      uploads: median(perHost('upload', () => 1)),
      execMs: Math.max(0, ...perHost('command', (e) => Number(e.durationMs))),
      wallMs: Number(end.durationMs),
    }
  })
}

async function main(): Promise<void> {
  const count = Number(values.nodes)
  if (!values['no-bundle'] && !values.cli) {
    const bundled = await runProcess(process.execPath, ['scripts/bundle.mjs', 'cli', '--if-stale'], { timeoutMs: 600_000 })
    if (bundled.status !== 0) throw new Error(`bundling failed: ${bundled.stderr}`)
  }
  const work = mkdtempSync(join(tmpdir(), 'kk-bench-profile-'))
  // A copy of the CLI, so a concurrent re-bundle in the shared tree cannot swap it mid-run.
  cpSync(values.cli ? join(values.cli, '..') : join(repoRoot, 'dist', 'cli'), join(work, 'cli'), { recursive: true })
  const cli = join(work, 'cli', 'index.js')
  const [nodes, mirror] = await Promise.all([startTestNodes({ count, prefix: 'kkprof' }), buildMirror()])
  const server = await serveMirror(mirror.root)
  const runs: Run[] = []
  try {
    const config = writeClusterFile(work, nodes, mirror, { controlPlanes: 1 })
    const deploy = async (label: string, ...extra: string[]) => {
      const logs = join(work, `logs-${label}`)
      const t0 = performance.now()
      const result = await runProcess(process.execPath, [
        cli, 'deploy', '-f', config, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url,
        '--checksums', mirror.checksumsFile, '--artifacts-dir', join(work, 'artifacts'), '--logs', logs, ...extra,
      ], { timeoutMs: 900_000 })
      const ms = performance.now() - t0
      if (result.status !== 0) throw new Error(`deploy ${label} failed:\n${result.stderr.slice(-4000)}`)
      if (values['keep-logs']) cpSync(logs, join(values['keep-logs'], label), { recursive: true })
      const summary = result.stderr.match(/deploy finished: [^\n]*/)?.[0] ?? '(no summary line)'
      runs.push({ label, ms, summary, rows: profile(logs), load: load() })
      process.stderr.write(`[profile] ${label}: ${(ms / 1000).toFixed(1)} s, ${summary}, load ${load()}\n`)
    }
    await deploy('until-containerd', '--until', 'containerd')
    await deploy('until-containerd-rerun', '--until', 'containerd')
    await deploy('create', '--skip', 'smoke-test')
    await deploy('create-rerun', '--skip', 'smoke-test')
  } finally {
    await server.close()
    await nodes.stop()
    rmSync(work, { recursive: true, force: true })
  }
  console.log(`Round trips per host, ${count} test nodes (1 control plane, etcd kubekey on all, containerd), ${new Date().toISOString()}:`)
  for (const run of runs) {
    const execs = run.rows.reduce((s, r) => s + r.execs, 0)
    const uploads = run.rows.reduce((s, r) => s + r.uploads, 0)
    console.log(`\n${run.label}: ${(run.ms / 1000).toFixed(1)} s wall, ${execs} execs + ${uploads} uploads per host (module medians summed); ${run.summary}; load average after ${run.load}`)
    console.log('| module | execs/host | uploads/host | exec time, slowest host | wall |')
    console.log('|---|---:|---:|---:|---:|')
    for (const r of run.rows) console.log(`| ${r.module} | ${r.execs} | ${r.uploads} | ${(r.execMs / 1000).toFixed(1)} s | ${(r.wallMs / 1000).toFixed(1)} s |`)
  }
}

await main()
