import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseRetryAfter } from '../../src/artifacts/http-download.js'
import { resolveArtifacts, type ResolveOptions } from '../../src/artifacts/resolve.js'
import { isUserError } from '../../src/errors.js'
import { sha256Hex, startMirror, type Mirror } from '../support/mirror.js'
import { recordingLogger, type RecordingLogger } from '../support/recording-logger.js'
import { syntheticArtifact, type SyntheticArtifact } from '../support/synthetic-artifacts.js'

/** Short retries and timeouts so each fault costs milliseconds, not the production seconds. */
const FAST = { attempts: 3, baseDelayMs: 20, maxDelayMs: 100, stallTimeoutMs: 400, maxRetryAfterMs: 2_000, progressAfterMs: 300, progressEveryMs: 300 }

let mirror: Mirror
let upstream: Mirror
let kubeadm: SyntheticArtifact
let runc: SyntheticArtifact
let dest: string
let log: RecordingLogger

beforeAll(async () => {
  upstream = await startMirror()
  mirror = await startMirror({ prefix: '/kubekey' })
  kubeadm = syntheticArtifact({ name: 'kubeadm', version: 'v1.30.1', arch: 'amd64' }, 256 * 1024, upstream.url)
  runc = syntheticArtifact({ name: 'runc', version: '1.1.12', arch: 'amd64' }, 64 * 1024, upstream.url)
})
afterAll(async () => {
  await Promise.all([mirror.stop(), upstream.stop()])
})
beforeEach(async () => {
  for (const server of [mirror, upstream]) {
    server.requests.length = 0
    server.clearFaults()
    server.files.clear()
    for (const { planned, content } of [kubeadm, runc]) server.add(planned.path, content)
  }
  dest = await mkdtemp(join(tmpdir(), 'kk-download-'))
  log = recordingLogger()
})
afterEach(async () => {
  await rm(dest, { recursive: true, force: true })
})

function options(extra: Partial<ResolveOptions> = {}): ResolveOptions {
  return { dest, mirror: mirror.url, useCache: false, concurrency: 2, log, tuning: FAST, ...extra }
}

async function resolveKubeadm(extra: Partial<ResolveOptions> = {}) {
  const [result] = await resolveArtifacts([kubeadm.planned], options(extra))
  return result
}

async function filesUnder(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name))
}

const statuses = (server: Mirror) => server.requests.map((request) => request.status)

describe('download from the mirror, then upstream', () => {
  it('takes the file from the mirror under the upstream path, verified, in the deploy layout', async () => {
    const result = await resolveKubeadm()
    expect(result).toMatchObject({ source: 'mirror', bytes: kubeadm.content.length })
    expect(result.path).toBe(join(dest, 'kubeadm', 'v1.30.1', 'amd64', 'kubeadm'))
    expect(sha256Hex(await readFile(result.path))).toBe(kubeadm.planned.sha256)
    expect(mirror.requests.map((request) => request.path)).toEqual(['/kubekey/release/v1.30.1/bin/linux/amd64/kubeadm'])
    expect(upstream.requests).toEqual([])
  })

  it('goes upstream when there is no mirror, and when the mirror lacks the file (404, not retried)', async () => {
    expect((await resolveKubeadm({ mirror: undefined })).source).toBe('upstream')
    mirror.files.clear()
    await rm(join(dest, 'kubeadm'), { recursive: true })
    expect((await resolveKubeadm()).source).toBe('upstream')
    expect(statuses(mirror)).toEqual([404])
  })

  it('follows redirects (GitHub release downloads are 302s)', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'redirect', times: 1 })
    expect((await resolveKubeadm()).source).toBe('mirror')
    expect(statuses(mirror)).toEqual([302, 200])
  })
})

describe('mirror faults', () => {
  it('500 then OK: retried on the same source', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'status', status: 500, times: 1 })
    expect((await resolveKubeadm()).source).toBe('mirror')
    expect(statuses(mirror)).toEqual([500, 200])
  })

  it('500 for good: the mirror is given up after the tries, upstream serves', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'status', status: 500 })
    expect((await resolveKubeadm()).source).toBe('upstream')
    expect(statuses(mirror)).toEqual([500, 500, 500])
  })

  it('429 with Retry-After: waits that long, then retries', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'status', status: 429, retryAfterSeconds: 1, times: 1 })
    const started = Date.now()
    expect((await resolveKubeadm()).source).toBe('mirror')
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    expect(statuses(mirror)).toEqual([429, 200])
  })

  it('429 asking for longer than we wait: straight to the next source', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'status', status: 429, retryAfterSeconds: 3600, times: 1 })
    expect((await resolveKubeadm()).source).toBe('upstream')
    expect(statuses(mirror)).toEqual([429])
  })

  it('a truncated body is retried, never kept', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'truncate', bytes: 1000, times: 2 })
    const result = await resolveKubeadm()
    expect(result.source).toBe('mirror')
    expect(sha256Hex(await readFile(result.path))).toBe(kubeadm.planned.sha256)
    expect(mirror.requests.map((request) => request.fault ?? 'ok')).toEqual(['truncate', 'truncate', 'ok'])
    // Each retry asks for the rest only; the faulty answers ignore that (200 from byte 0), the last one resumes.
    expect(mirror.requests.map((request) => [request.range, request.status])).toEqual([[undefined, 200], ['bytes=1000-', 200], ['bytes=1000-', 206]])
    expect(mirror.requests[2].bytes).toBe(kubeadm.content.length - 1000)
  })

  it('a reset in the middle of the body resumes where it stopped, and the sum covers the whole file', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'reset', afterBytes: 100_000, times: 1 })
    const result = await resolveKubeadm()
    expect(result.source).toBe('mirror')
    expect(sha256Hex(await readFile(result.path))).toBe(kubeadm.planned.sha256)
    expect(log.warnings()).toEqual([])
    expect(upstream.requests).toEqual([])
    const [first, second] = mirror.requests
    expect(second).toMatchObject({ status: 206, range: `bytes=${first.bytes}-`, bytes: kubeadm.content.length - first.bytes })
  })

  it('a connection reset, before the headers and in the middle of the body, is retried', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'reset', times: 1 })
    mirror.fault(kubeadm.planned.path, { kind: 'reset', afterBytes: 50_000, times: 1 })
    expect((await resolveKubeadm()).source).toBe('mirror')
    expect(mirror.requests.map((request) => request.fault ?? 'ok')).toEqual(['reset', 'reset', 'ok'])
  })

  it('a stall (headers, some bytes, then silence) ends at the stall timeout and is retried', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'stall', afterBytes: 10_000, times: 1 })
    const started = Date.now()
    expect((await resolveKubeadm()).source).toBe('mirror')
    expect(Date.now() - started).toBeGreaterThanOrEqual(FAST.stallTimeoutMs)
    expect(log.infos().some((line) => /no data for 0.4 s/.test(line))).toBe(true)
  })

  it('a server that never answers (no status line) ends at the stall timeout and is retried', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'no-answer', times: 1 })
    expect((await resolveKubeadm()).source).toBe('mirror')
    expect(log.infos().some((line) => /no answer for 0.4 s/.test(line))).toBe(true)
  })

  it('an HTML error page served with 200 is never saved as the file', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'error-page' })
    upstream.fault(kubeadm.planned.path, { kind: 'error-page', contentType: 'application/json', times: 1 })
    const result = await resolveKubeadm()
    expect(result.source).toBe('upstream')
    expect(sha256Hex(await readFile(result.path))).toBe(kubeadm.planned.sha256)
    expect(log.infos().some((line) => line.includes('text/html page instead of the file'))).toBe(true)
  })

  it('a wrong file from the mirror is discarded with a warning and fetched once more from upstream', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'wrong-file' })
    const result = await resolveKubeadm()
    expect(result.source).toBe('upstream')
    expect(sha256Hex(await readFile(result.path))).toBe(kubeadm.planned.sha256)
    expect(statuses(mirror)).toEqual([200])
    expect(log.warnings()).toEqual([expect.stringMatching(/kubeadm v1.30.1 amd64: sha256 of http.*kubeadm is [0-9a-f]{64}, expected/)])
  })

  it('a wrong file from the only source is fetched once more from it', async () => {
    upstream.fault(kubeadm.planned.path, { kind: 'wrong-file', times: 1 })
    expect((await resolveKubeadm({ mirror: undefined })).source).toBe('upstream')
    expect(statuses(upstream)).toEqual([200, 200])
  })

  it('two wrong files: a UserError naming the URL, the expected and the actual sum; nothing kept', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'wrong-file' })
    upstream.fault(kubeadm.planned.path, { kind: 'wrong-file' })
    const error = await resolveKubeadm().catch((caught: unknown) => caught)
    expect(isUserError(error)).toBe(true)
    const message = (error as Error).message
    expect(message).toContain(kubeadm.planned.url)
    expect(message).toContain(`expected ${kubeadm.planned.sha256}`)
    expect(message).toMatch(/gave [0-9a-f]{64}/)
    expect(message).not.toContain(`gave ${kubeadm.planned.sha256}`)
    expect(await filesUnder(dest)).toEqual([])
  })

  it('logs progress with bytes and rate for a slow download', async () => {
    mirror.fault(kubeadm.planned.path, { kind: 'slow', bytesPerSecond: 300 * 1024, times: 1 })
    expect((await resolveKubeadm()).source).toBe('mirror')
    expect(log.infos().some((line) => /kubeadm v1.30.1 amd64: downloading [\d.]+ MiB of 0.3 MiB in [\d.]+ s \([\d.]+ MiB\/s\)/.test(line))).toBe(true)
    expect(log.infos().some((line) => /downloaded 0.3 MiB of 0.3 MiB/.test(line))).toBe(true)
  })
})

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('7')).toBe(7000)
    expect(parseRetryAfter(undefined)).toBeUndefined()
    expect(parseRetryAfter('soon')).toBeUndefined()
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString()
    expect(parseRetryAfter(inTenSeconds)).toBeGreaterThan(8_000)
    expect(parseRetryAfter(inTenSeconds)).toBeLessThanOrEqual(10_000)
  })
})

describe('a corrupt download never reaches the destination, and a rerun converges', () => {
  it('every source failing leaves no file and no temporary file; the rerun after the fault succeeds', async () => {
    const target = join(dest, 'kubeadm', 'v1.30.1', 'amd64', 'kubeadm')
    mirror.fault(kubeadm.planned.path, { kind: 'truncate' })
    upstream.fault(kubeadm.planned.path, { kind: 'error-page' })
    const error = await resolveArtifacts([kubeadm.planned, runc.planned], options()).catch((caught: unknown) => caught)
    expect(isUserError(error)).toBe(true)
    expect((error as Error).message).toMatch(/could not download kubeadm v1.30.1 amd64/)
    // runc was fine and is in place; kubeadm has nothing, not even a partial file.
    expect((await filesUnder(dest)).map((file) => file.slice(dest.length))).toEqual(['/runc/1.1.12/amd64/runc.amd64'])

    mirror.clearFaults()
    upstream.clearFaults()
    const results = await resolveArtifacts([kubeadm.planned, runc.planned], options())
    expect(sha256Hex(await readFile(target))).toBe(kubeadm.planned.sha256)
    expect(results.map((result) => result.source)).toEqual(['mirror', 'mirror'])
  })

  it('a wrong file left at the destination by someone else is replaced by the verified one', async () => {
    const target = join(dest, 'kubeadm', 'v1.30.1', 'amd64', 'kubeadm')
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, 'not kubeadm')
    await resolveKubeadm()
    expect(sha256Hex(await readFile(target))).toBe(kubeadm.planned.sha256)
  })
})
