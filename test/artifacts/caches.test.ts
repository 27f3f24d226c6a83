import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { saveCache } from '@actions/cache'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { actionsCacheKey } from '../../src/artifacts/actions-cache.js'
import { allFromCache, resolveArtifacts, type ResolveOptions, type ResolvedArtifact } from '../../src/artifacts/resolve.js'
import { compressLongTimers } from '../support/fast-timers.js'
import { sha256Hex, startMirror, type Mirror } from '../support/mirror.js'
import { recordingLogger, type RecordingLogger } from '../support/recording-logger.js'
import { applyEnv, refusedUrl, resultsServiceEnv, startResultsService, type ResultsService } from '../support/results-service.js'
import { mirrorFiles, syntheticArtifact, v130ContainerdNeeds, type SyntheticArtifact } from '../support/synthetic-artifacts.js'

const FAST = { attempts: 2, baseDelayMs: 10, maxDelayMs: 50, stallTimeoutMs: 400 }

let service: ResultsService
let mirror: Mirror
let set: SyntheticArtifact[]
let scratch: string
let restoreEnv: () => void
let log: RecordingLogger

beforeAll(async () => {
  const upstream = (await refusedUrl()).replace(/\/$/, '')
  set = v130ContainerdNeeds().map((need, index) => syntheticArtifact(need, 16 * 1024 + index, upstream))
  mirror = await startMirror({ files: mirrorFiles(set) })
  service = await startResultsService()
})
afterAll(async () => {
  await Promise.all([mirror.stop(), service.stop()])
})
beforeEach(async () => {
  service.reset()
  mirror.requests.length = 0
  mirror.clearFaults()
  scratch = await mkdtemp(join(tmpdir(), 'kk-caches-'))
  await mkdir(join(scratch, 'workspace'))
  await mkdir(join(scratch, 'runner-temp'))
  restoreEnv = applyEnv({
    ...resultsServiceEnv(service.url),
    GITHUB_WORKSPACE: join(scratch, 'workspace'),
    RUNNER_TEMP: join(scratch, 'runner-temp'),
    RUNNER_TOOL_CACHE: undefined,
  })
  log = recordingLogger()
})
afterEach(async () => {
  restoreEnv()
  await rm(scratch, { recursive: true, force: true })
})

const planned = (count = set.length) => set.slice(0, count).map(({ planned: artifact }) => artifact)

/** One "job": its own destination, the shared work dir (as $RUNNER_TEMP/kk-action would be). */
function run(name: string, extra: Partial<ResolveOptions> = {}, count?: number): Promise<ResolvedArtifact[]> {
  return resolveArtifacts(planned(count), {
    dest: join(scratch, name), workDir: join(scratch, 'runner-temp', 'kk-action'), mirror: mirror.url,
    useCache: true, concurrency: 3, log, tuning: FAST, ...extra,
  })
}

async function expectVerified(results: ResolvedArtifact[]): Promise<void> {
  for (const result of results) expect(sha256Hex(await readFile(result.path))).toBe(result.artifact.sha256)
}

const sources = (results: ResolvedArtifact[]) => [...new Set(results.map((result) => result.source))]

describe('the Actions cache layer with the real @actions/cache', () => {
  it('miss → download → save; a second run restores everything with zero mirror requests', async () => {
    const first = await run('job-1')
    expect(sources(first)).toEqual(['mirror'])
    expect(allFromCache(first)).toBe(false)
    expect(service.cacheEntries.filter((entry) => entry.finalized).map((entry) => entry.key).sort())
      .toEqual(planned().map(actionsCacheKey).sort())
    expect(actionsCacheKey(planned()[0])).toMatch(/^kk-kubeadm-v1\.30\.1-amd64-[0-9a-f]{12}$/)

    mirror.requests.length = 0
    const second = await run('job-2')
    expect(sources(second)).toEqual(['actions-cache'])
    expect(allFromCache(second)).toBe(true)
    await expectVerified(second)
    expect(mirror.requests).toEqual([])
    expect(log.warnings()).toEqual([])
  })

  it('service absent (no ACTIONS_RESULTS_URL): downloads, no warning, no request to the service', async () => {
    const restore = applyEnv({ ACTIONS_RESULTS_URL: undefined })
    try {
      expect(sources(await run('job', {}, 3))).toEqual(['mirror'])
    } finally {
      restore()
    }
    expect(service.requests).toEqual([])
    expect(log.warnings()).toEqual([])
  })

  it('connection refused: downloads, quickly, and resolution does not fail', async () => {
    const restore = applyEnv({ ACTIONS_RESULTS_URL: await refusedUrl() })
    const started = Date.now()
    try {
      const results = await run('job')
      expect(sources(results)).toEqual(['mirror'])
      await expectVerified(results)
    } finally {
      restore()
    }
    expect(Date.now() - started).toBeLessThan(15_000) // no retries: a refused connection is not retried by the library
  })

  it('HTTP 500 for good: after the library\'s retries the layer switches itself off with one warning', async () => {
    service.fault('GetCacheEntryDownloadURL', { kind: 'status', status: 500 })
    service.fault('CreateCacheEntry', { kind: 'status', status: 500 })
    const restoreTimers = compressLongTimers(100)
    try {
      // The library's ~31 s of retries take ~0.3 s here; 150 ms stands for the production 20 s.
      const results = await run('job', { slowCacheLookupMs: 150 })
      expect(sources(results)).toEqual(['mirror'])
    } finally {
      restoreTimers()
    }
    const lookups = service.requests.filter((request) => request.target === 'GetCacheEntryDownloadURL')
    // The first `concurrency` lookups ran their 5 tries each; the others were not made.
    expect(lookups).toHaveLength(3 * 5)
    expect(service.requests.filter((request) => request.target === 'CreateCacheEntry')).toEqual([])
    expect(log.warnings()).toEqual([expect.stringMatching(/the Actions cache took \d+ s to answer a lookup and had nothing; not using it for the rest of this run/)])
  })

  it('HTTP 500 once: the library retries, the layer carries on (saves)', async () => {
    service.fault('GetCacheEntryDownloadURL', { kind: 'status', status: 500, times: 1 })
    const restoreTimers = compressLongTimers(100)
    try {
      expect(sources(await run('job', {}, 2))).toEqual(['mirror'])
    } finally {
      restoreTimers()
    }
    expect(service.cacheEntries.filter((entry) => entry.finalized)).toHaveLength(2)
  })

  it('429 (rate limited) is a miss at once; nothing fails', async () => {
    service.fault('GetCacheEntryDownloadURL', { kind: 'status', status: 429, retryAfterSeconds: 30 })
    service.fault('CreateCacheEntry', { kind: 'status', status: 429, retryAfterSeconds: 30 })
    const started = Date.now()
    expect(sources(await run('job'))).toEqual(['mirror'])
    expect(Date.now() - started).toBeLessThan(15_000) // a retried 429 would cost ~31 s per artifact
    expect(service.requests.filter((request) => request.target === 'GetCacheEntryDownloadURL')).toHaveLength(set.length)
  })

  it('ok:false: a lookup that says not-ok is a miss; a reservation that says not-ok saves nothing', async () => {
    await run('job-1', {}, 2)
    service.fault('GetCacheEntryDownloadURL', { kind: 'not-ok' })
    service.fault('CreateCacheEntry', { kind: 'not-ok', message: 'quota exceeded' })
    mirror.requests.length = 0
    expect(sources(await run('job-2', {}, 3))).toEqual(['mirror'])
    expect(mirror.requests).toHaveLength(3)
    expect(service.cacheEntries.map((entry) => entry.key).sort()).toEqual(planned(2).map(actionsCacheKey).sort())
  })

  it('a blob 404 behind a cache hit: the files come from the mirror, verified', async () => {
    await run('job-1', {}, 3)
    service.fault('blob-get', { kind: 'status', status: 404 })
    const results = await run('job-2', {}, 3)
    expect(sources(results)).toEqual(['mirror'])
    await expectVerified(results)
    expect(service.requests.filter((request) => request.target === 'blob-get').map((request) => request.status)).toEqual([404, 404, 404])
  })

  it('an entry whose bytes are not the artifact is not used, never reaches the destination, and is warned about', async () => {
    const [kubeadm] = planned(1)
    const key = actionsCacheKey(kubeadm)
    // Another writer saved other bytes under our key and staging path (a tampered or colliding entry).
    const staged = join(scratch, 'runner-temp', 'kk-action', 'actions-cache', key, kubeadm.file)
    await mkdir(join(staged, '..'), { recursive: true })
    await writeFile(staged, 'not kubeadm')
    expect(await saveCache([staged], key)).toBeGreaterThan(0)
    await rm(join(staged, '..'), { recursive: true })

    const results = await run('job', {}, 1)
    expect(results[0].source).toBe('mirror')
    await expectVerified(results)
    expect(log.warnings()).toEqual([expect.stringContaining(`the Actions cache entry ${key} holds another file (sha256 ${sha256Hex(Buffer.from('not kubeadm'))})`)])
  })

  it('without a runtime token, saving fails with a warning and resolution goes on', async () => {
    const restore = applyEnv({ ACTIONS_RUNTIME_TOKEN: undefined })
    try {
      expect(sources(await run('job', {}, 2))).toEqual(['mirror'])
    } finally {
      restore()
    }
    expect(log.warnings()).toEqual([
      expect.stringMatching(/could not save to the Actions cache: .*ACTIONS_RUNTIME_TOKEN/),
      expect.stringMatching(/could not save to the Actions cache: .*ACTIONS_RUNTIME_TOKEN/),
    ])
  })
})

describe('the runner tool cache layer with the real @actions/tool-cache', () => {
  beforeEach(() => {
    process.env.RUNNER_TOOL_CACHE = join(scratch, 'toolcache')
  })

  it('a download is put in the tool cache; the next run takes it from there with no request anywhere', async () => {
    expect(sources(await run('job-1'))).toEqual(['mirror'])
    const [kubeadm] = planned()
    await access(join(scratch, 'toolcache', 'kk-kubeadm', '1.30.1', 'amd64', 'kubeadm'))
    await access(join(scratch, 'toolcache', 'kk-kubeadm', '1.30.1', 'amd64.complete'))
    expect(kubeadm.file).toBe('kubeadm')

    mirror.requests.length = 0
    service.reset()
    const second = await run('job-2')
    expect(sources(second)).toEqual(['tool-cache'])
    await expectVerified(second)
    expect(mirror.requests).toEqual([])
    expect(service.requests).toEqual([])
  })

  it('a fresh runner (empty tool cache) restores from the Actions cache and fills the tool cache again', async () => {
    await run('job-1', {}, 3)
    await rm(join(scratch, 'toolcache'), { recursive: true })
    mirror.requests.length = 0
    expect(sources(await run('job-2', {}, 3))).toEqual(['actions-cache'])
    expect(sources(await run('job-3', {}, 3))).toEqual(['tool-cache'])
    expect(mirror.requests).toEqual([])
  })

  it('a tool cache entry with other bytes (another build of that version) is a miss, then replaced', async () => {
    await run('job-1', { useCache: true }, 1)
    const cached = join(scratch, 'toolcache', 'kk-kubeadm', '1.30.1', 'amd64', 'kubeadm')
    await writeFile(cached, 'a private build')
    service.reset()
    const restore = applyEnv({ ACTIONS_RESULTS_URL: undefined })
    try {
      expect((await run('job-2', {}, 1))[0].source).toBe('mirror')
    } finally {
      restore()
    }
    expect(sha256Hex(await readFile(cached))).toBe(planned(1)[0].sha256)
    expect(log.infos().some((line) => line.includes('the tool cache holds another build'))).toBe(true)
  })

  it('useCache: false uses neither cache', async () => {
    await run('job-1', {}, 2)
    mirror.requests.length = 0
    service.reset()
    expect(sources(await run('job-2', { useCache: false }, 2))).toEqual(['mirror'])
    expect(mirror.requests).toHaveLength(2)
    expect(service.requests).toEqual([])
  })
})
