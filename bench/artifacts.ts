/**
 * Cold vs warm resolution of a full v1.30 containerd artifact set (kubeadm, kubelet, kubectl,
 * containerd, runc, crictl, etcd, cni-plugins, calicoctl; amd64), all on this machine:
 * the local mirror (test/support/mirror.ts) for downloads and the local results service
 * (test/support/results-service.ts) behind the real @actions/cache.
 *
 *   npx vite-node bench/artifacts.ts [--scale 0.25] [--runs 3] [--concurrency 4]
 *
 * File sizes are the real ones (~400 MiB in all) times --scale. Prints a markdown table (medians).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { mebibytes } from '../src/artifacts/http-download.js'
import { fetchBundle, resolveArtifacts, type ResolveOptions, type ResolvedArtifact } from '../src/artifacts/resolve.js'
import type { PlannedArtifact } from '../src/artifacts/types.js'
import { silentLogger } from '../src/log.js'
import { sha256Hex, startMirror, type Mirror } from '../test/support/mirror.js'
import { applyEnv, refusedUrl, resultsServiceEnv, startResultsService, type ResultsService } from '../test/support/results-service.js'
import { REAL_SIZES, syntheticArtifact, v130ContainerdNeeds } from '../test/support/synthetic-artifacts.js'

const { values } = parseArgs({ options: { scale: { type: 'string', default: '0.25' }, runs: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '4' } } })
const scale = Number(values.scale)
const runs = Number(values.runs)
const concurrency = Number(values.concurrency)

interface Scenario {
  name: string
  /** Runs before every repetition; puts caches in the state the scenario measures. */
  prepare(): Promise<void>
  env: Record<string, string | undefined>
  options: Partial<ResolveOptions>
}

interface Measurement {
  ms: number
  bytes: number
  sources: string
  mirrorRequests: number
  mirrorBytes: number
  serviceRequests: number
  serviceBytes: number
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'kk-bench-'))
  const upstream = (await refusedUrl()).replace(/\/$/, '')
  const artifacts = v130ContainerdNeeds().map((need) => {
    const content = randomBytes(Math.round(REAL_SIZES[need.name] * scale))
    const base = syntheticArtifact(need, 1, upstream)
    return { planned: { ...base.planned, sha256: sha256Hex(content) } satisfies PlannedArtifact, content }
  })
  const mirror = await startMirror({ files: new Map(artifacts.map(({ planned, content }) => [planned.path, content])) })
  const service = await startResultsService()
  const planned = artifacts.map(({ planned: artifact }) => artifact)
  const totalBytes = artifacts.reduce((sum, { content }) => sum + content.length, 0)

  const dirs = {
    workspace: join(scratch, 'workspace'), runnerTemp: join(scratch, 'runner-temp'),
    toolCache: join(scratch, 'toolcache'), bundle: join(scratch, 'bundle'),
  }
  await Promise.all(Object.values(dirs).map((dir) => mkdir(dir, { recursive: true })))
  const job = { ...resultsServiceEnv(service.url), GITHUB_WORKSPACE: dirs.workspace, RUNNER_TEMP: dirs.runnerTemp }
  const emptyCaches = async () => {
    service.reset()
    await rm(dirs.toolCache, { recursive: true, force: true })
  }
  const fillCaches = async () => {
    await emptyCaches()
    await withEnv({ ...job, RUNNER_TOOL_CACHE: dirs.toolCache }, () => resolveArtifacts(planned, baseOptions(join(scratch, 'fill'), mirror.url)))
  }

  const scenarios: Scenario[] = [
    { name: 'cold: mirror, no caches (CLI)', prepare: async () => {}, env: { ACTIONS_RESULTS_URL: undefined, RUNNER_TOOL_CACHE: undefined }, options: { useCache: false } },
    { name: 'cold in a job: mirror + save to tool cache and Actions cache', prepare: emptyCaches, env: { ...job, RUNNER_TOOL_CACHE: dirs.toolCache }, options: {} },
    { name: 'warm: tool cache', prepare: fillCaches, env: { ...job, RUNNER_TOOL_CACHE: dirs.toolCache }, options: {} },
    { name: 'warm: Actions cache (local results service)', prepare: fillCaches, env: { ...job, RUNNER_TOOL_CACHE: undefined }, options: {} },
    {
      name: 'warm: offline-dir', env: { ACTIONS_RESULTS_URL: undefined, RUNNER_TOOL_CACHE: undefined }, options: { useCache: false, offlineDir: dirs.bundle, mirror: upstream },
      prepare: async () => {
        await fetchBundle(planned, dirs.bundle, baseOptions(join(scratch, 'unused'), mirror.url))
      },
    },
  ]

  const rows: string[] = []
  for (const scenario of scenarios) {
    const measurements: Measurement[] = []
    for (let run = 0; run < runs; run++) {
      await scenario.prepare()
      mirror.requests.length = 0
      service.requests.length = 0
      const dest = join(scratch, `dest-${run}`)
      const started = performance.now()
      const results = await withEnv(scenario.env, () => resolveArtifacts(planned, { ...baseOptions(dest, mirror.url), ...scenario.options }))
      measurements.push(measure(performance.now() - started, results, mirror, service))
      await rm(dest, { recursive: true, force: true })
    }
    rows.push(row(scenario.name, median(measurements)))
  }

  await Promise.all([mirror.stop(), service.stop()])
  await rm(scratch, { recursive: true, force: true })

  console.log(`\n### Artifact resolution, full v1.30.1 containerd set (9 artifacts, amd64)\n`)
  console.log(`Sizes: real sizes × ${scale} = ${mebibytes(totalBytes)} in all; median of ${runs} runs; concurrency ${concurrency}; ` +
    `node ${process.version}; load average at the end ${loadavg().map((load) => load.toFixed(1)).join(' ')} on 2 cores.\n`)
  console.log('| scenario | wall time | artifact bytes | sources | mirror requests (bytes) | results-service requests (bytes in+out) |')
  console.log('|---|---:|---:|---|---:|---:|')
  for (const line of rows) console.log(line)
}

function baseOptions(dest: string, mirrorUrl: string): ResolveOptions {
  return { dest, workDir: join(dest, '..', 'work'), mirror: mirrorUrl, useCache: true, concurrency, log: silentLogger }
}

function measure(ms: number, results: ResolvedArtifact[], mirror: Mirror, service: ResultsService): Measurement {
  const sourceCounts = new Map<string, number>()
  for (const result of results) sourceCounts.set(result.source, (sourceCounts.get(result.source) ?? 0) + 1)
  return {
    ms,
    bytes: results.reduce((sum, result) => sum + result.bytes, 0),
    sources: [...sourceCounts].map(([source, count]) => `${source} ×${count}`).join(', '),
    mirrorRequests: mirror.requests.length,
    mirrorBytes: mirror.requests.reduce((sum, request) => sum + request.bytes, 0),
    serviceRequests: service.requests.length,
    serviceBytes: service.requests.reduce((sum, request) => sum + request.bytesIn + request.bytesOut, 0),
  }
}

function median(measurements: Measurement[]): Measurement {
  const sorted = [...measurements].sort((a, b) => a.ms - b.ms)
  return sorted[Math.floor(sorted.length / 2)]
}

function row(name: string, m: Measurement): string {
  return `| ${name} | ${(m.ms / 1000).toFixed(2)} s | ${mebibytes(m.bytes)} | ${m.sources} | ${m.mirrorRequests} (${mebibytes(m.mirrorBytes)}) | ${m.serviceRequests} (${mebibytes(m.serviceBytes)}) |`
}

/**
 * Runs `fn` with these variables set, and with stdout held back: @actions/core writes the
 * libraries' log lines (and ::debug:: lines) to stdout, which is where the table goes.
 */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const restoreEnv = applyEnv(vars)
  const write = process.stdout.write
  process.stdout.write = (() => true) as typeof process.stdout.write
  try {
    return await fn()
  } finally {
    process.stdout.write = write
    restoreEnv()
  }
}

await main()
