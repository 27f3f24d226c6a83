import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { restoreCache, saveCache } from '@actions/cache'
import { DefaultArtifactClient } from '@actions/artifact'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { applyEnv, refusedUrl, resultsServiceEnv, startResultsService, type ResultsService } from './results-service.js'

let service: ResultsService
let scratch: string
let restoreEnv: () => void

beforeAll(async () => {
  service = await startResultsService()
})
afterAll(async () => {
  await service.stop()
})
beforeEach(async () => {
  service.reset()
  scratch = await mkdtemp(join(tmpdir(), 'kk-results-'))
  await mkdir(join(scratch, 'workspace'))
  await mkdir(join(scratch, 'runner-temp'))
  restoreEnv = applyEnv({
    ...resultsServiceEnv(service.url, { runId: 'run-42', jobId: 'job-7' }),
    GITHUB_WORKSPACE: join(scratch, 'workspace'),
    RUNNER_TEMP: join(scratch, 'runner-temp'),
  })
})
afterEach(async () => {
  restoreEnv()
  await rm(scratch, { recursive: true, force: true })
})

async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(root, name, '..'), { recursive: true })
    await writeFile(join(root, name), content)
  }
}

async function readTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const full = join(entry.parentPath, entry.name)
    out[relative(root, full)] = (await readFile(full)).toString('base64')
  }
  return out
}

describe('the real @actions/cache against the results service', () => {
  it('saves, then restores the same bytes under the same key', async () => {
    const dir = join(scratch, 'workspace', 'payload')
    const files = { 'a.txt': 'alpha\n', 'bin/tool': Buffer.alloc(300_000, 7), 'nested/deep/c': 'c' }
    await writeTree(dir, files)

    const id = await saveCache([dir], 'kk-test-key-1')
    expect(id).toBeGreaterThan(0)
    const entry = service.cacheEntries.find((candidate) => candidate.key === 'kk-test-key-1')
    expect(entry?.finalized).toBe(true)
    expect(service.blobContent(entry!.blobName)?.length).toBe(entry?.sizeBytes)

    await rm(dir, { recursive: true })
    expect(await restoreCache([dir], 'kk-test-key-1')).toBe('kk-test-key-1')
    expect(await readTree(dir)).toEqual(await (async () => {
      const expected = join(scratch, 'expected')
      await writeTree(expected, files)
      return readTree(expected)
    })())
    const rpcs = service.requests.map((request) => request.target)
    expect(rpcs).toEqual(['CreateCacheEntry', 'blob-put', 'FinalizeCacheEntryUpload', 'GetCacheEntryDownloadURL', 'blob-get'])
  })

  it('misses on an unknown key, and on a known key saved from other paths (the version differs)', async () => {
    const dir = join(scratch, 'workspace', 'one')
    await writeTree(dir, { f: 'x' })
    await saveCache([dir], 'kk-shared')
    expect(await restoreCache([dir], 'kk-other')).toBeUndefined()
    expect(await restoreCache([join(scratch, 'workspace', 'two')], 'kk-shared')).toBeUndefined()
  })

  it('matches restore keys by prefix', async () => {
    const dir = join(scratch, 'workspace', 'prefixed')
    await writeTree(dir, { f: 'x' })
    await saveCache([dir], 'kk-prefix-123')
    expect(await restoreCache([dir], 'kk-prefix-999', ['kk-prefix-'])).toBe('kk-prefix-123')
  })

  it('refuses a second save of the same key like GitHub does (409), without throwing', async () => {
    const dir = join(scratch, 'workspace', 'twice')
    await writeTree(dir, { f: 'x' })
    expect(await saveCache([dir], 'kk-twice')).toBeGreaterThan(0)
    expect(await saveCache([dir], 'kk-twice')).toBe(-1)
    expect(service.requests.at(-1)).toMatchObject({ target: 'CreateCacheEntry', status: 409 })
  })

  it('injected faults reach the library: ok:false is a miss, 429 and a blob 404 end in undefined', async () => {
    const dir = join(scratch, 'workspace', 'faults')
    await writeTree(dir, { f: 'x' })
    await saveCache([dir], 'kk-faults')

    service.fault('GetCacheEntryDownloadURL', { kind: 'not-ok', times: 1 })
    expect(await restoreCache([dir], 'kk-faults')).toBeUndefined()
    service.fault('GetCacheEntryDownloadURL', { kind: 'status', status: 429, retryAfterSeconds: 60, times: 1 })
    expect(await restoreCache([dir], 'kk-faults')).toBeUndefined()
    service.fault('blob-get', { kind: 'status', status: 404, times: 1 })
    expect(await restoreCache([dir], 'kk-faults')).toBeUndefined()
    // Faults are used up: the next lookup restores.
    expect(await restoreCache([dir], 'kk-faults')).toBe('kk-faults')
    expect(service.requests.filter((request) => request.fault).map((request) => request.status)).toEqual([200, 429, 404])
  })

  it('retries a 500 from the service and then succeeds (one retry: ~3 s, the library\'s fixed first delay)', async () => {
    const dir = join(scratch, 'workspace', 'retry')
    await writeTree(dir, { f: 'x' })
    service.fault('CreateCacheEntry', { kind: 'status', status: 500, times: 1 })
    expect(await saveCache([dir], 'kk-retry')).toBeGreaterThan(0)
    expect(service.requests.filter((request) => request.target === 'CreateCacheEntry').map((r) => r.status)).toEqual([500, 200])
  })

  it('a refused connection is a miss for restore', async () => {
    const restore = applyEnv({ ACTIONS_RESULTS_URL: await refusedUrl() })
    try {
      expect(await restoreCache([join(scratch, 'workspace', 'x')], 'kk-refused')).toBeUndefined()
    } finally {
      restore()
    }
  })
})

describe('the real @actions/artifact against the results service', () => {
  it('uploads a directory as a zip that unpacks to the same files, and downloads it back', async () => {
    const logs = join(scratch, 'workspace', 'logs')
    const files = {
      'plan.json': '{"pipeline":"create"}\n',
      'events.ndjson': '{"module":"precheck"}\n'.repeat(50),
      'hosts/node1/containerd.log': 'started\n',
      'hosts/node2/etcd.log': randomBytes(9 * 1024 * 1024), // incompressible, so the zip spans two 8 MiB blocks
    }
    await writeTree(logs, files)
    const paths = Object.keys(files).map((name) => join(logs, name))

    const client = new DefaultArtifactClient()
    const { id = 0, size } = await client.uploadArtifact('kk-logs', paths, logs, { retentionDays: 3 })
    expect(id).toBeGreaterThan(0)
    const stored = service.artifacts.find((artifact) => artifact.id === id)
    expect(stored).toMatchObject({ name: 'kk-logs', runId: 'run-42', jobId: 'job-7', finalized: true, size })
    // Two staged blocks and the block list that commits them.
    expect(service.requests.filter((request) => request.target === 'blob-put').length).toBe(3)

    const zip = join(scratch, 'arrived.zip')
    await writeFile(zip, service.blobContent(stored!.blobName)!)
    const unpacked = join(scratch, 'unpacked')
    execFileSync('unzip', ['-q', zip, '-d', unpacked])
    expect(await readTree(unpacked)).toEqual(await readTree(logs))

    const downloaded = join(scratch, 'downloaded')
    await client.downloadArtifact(id, { path: downloaded })
    expect(await readTree(downloaded)).toEqual(await readTree(logs))
  })

  it('a name can be uploaded once per run; the second upload throws', async () => {
    const dir = join(scratch, 'workspace', 'once')
    await writeTree(dir, { 'a.log': 'a' })
    const client = new DefaultArtifactClient()
    await client.uploadArtifact('once', [join(dir, 'a.log')], dir)
    await expect(client.uploadArtifact('once', [join(dir, 'a.log')], dir)).rejects.toThrow(/409|Conflict|already exists/i)
  })

  it('throws when FinalizeArtifact answers ok:false', async () => {
    const dir = join(scratch, 'workspace', 'notok')
    await writeTree(dir, { 'a.log': 'a' })
    service.fault('FinalizeArtifact', { kind: 'not-ok', times: 1 })
    await expect(new DefaultArtifactClient().uploadArtifact('notok', [join(dir, 'a.log')], dir)).rejects.toThrow(/not ok/)
  })
})
