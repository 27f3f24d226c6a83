import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { checksumsDocument, sha256Hex, startMirror, syntheticBytes, type Mirror } from './mirror.js'

const PATH = '/containerd/containerd/releases/download/v1.7.13/containerd-1.7.13-linux-amd64.tar.gz'
const content = syntheticBytes('containerd', 100_000)
let mirror: Mirror

beforeAll(async () => {
  mirror = await startMirror({ prefix: '/kubekey', files: { [PATH]: content } })
})
afterAll(async () => {
  await mirror.stop()
})
beforeEach(() => {
  mirror.requests.length = 0
  mirror.clearFaults()
})

async function get(path: string): Promise<{ status: number; body: Buffer; type: string | null } | { error: string }> {
  try {
    const response = await fetch(`${mirror.url}${path}`, { redirect: 'follow' })
    return { status: response.status, body: Buffer.from(await response.arrayBuffer()), type: response.headers.get('content-type') }
  } catch (error) {
    return { error: String((error as Error).cause ?? error) }
  }
}

describe('the local mirror', () => {
  it('serves files under base URL + upstream path and records method, path, status and bytes', async () => {
    expect(mirror.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/kubekey$/)
    const ok = await get(PATH)
    expect(ok).toMatchObject({ status: 200, type: 'application/octet-stream' })
    expect(sha256Hex((ok as { body: Buffer }).body)).toBe(sha256Hex(content))
    expect(await get('/nothing/here')).toMatchObject({ status: 404 })
    expect(mirror.requests).toEqual([
      { method: 'GET', path: `/kubekey${PATH}`, status: 200, bytes: 100_000 },
      { method: 'GET', path: '/kubekey/nothing/here', status: 404, bytes: expect.any(Number) },
    ])
  })

  it('uses faults up in order, per path', async () => {
    mirror.fault(PATH, { kind: 'status', status: 500, times: 1 })
    mirror.fault(PATH, { kind: 'status', status: 429, retryAfterSeconds: 7, times: 1 })
    mirror.fault(PATH, { kind: 'error-page', times: 1 })
    mirror.fault(PATH, { kind: 'wrong-file', times: 1 })
    const answers = [await get(PATH), await get(PATH), await get(PATH), await get(PATH), await get(PATH)]
    expect(answers.map((answer) => ('status' in answer ? answer.status : answer.error))).toEqual([500, 429, 200, 200, 200])
    expect((answers[2] as { type: string }).type).toBe('text/html')
    expect((answers[3] as { body: Buffer }).body.length).toBe(content.length)
    expect(sha256Hex((answers[3] as { body: Buffer }).body)).not.toBe(sha256Hex(content))
    expect(sha256Hex((answers[4] as { body: Buffer }).body)).toBe(sha256Hex(content))
    expect(mirror.requests.map((request) => request.fault)).toEqual(['status', 'status', 'error-page', 'wrong-file', undefined])
  })

  it('truncates, resets and redirects', async () => {
    mirror.fault(PATH, { kind: 'truncate', bytes: 1000, times: 1 })
    mirror.fault(PATH, { kind: 'reset', times: 1 })
    mirror.fault(PATH, { kind: 'redirect', times: 1 })
    expect(await get(PATH)).toHaveProperty('error')
    expect(await get(PATH)).toHaveProperty('error')
    const redirected = await get(PATH)
    expect(sha256Hex((redirected as { body: Buffer }).body)).toBe(sha256Hex(content))
    expect(mirror.requests.map((request) => [request.status, request.bytes])).toEqual([[200, 1000], [-1, 0], [302, 0], [200, 100_000]])
  })
})

describe('ranges', () => {
  it('answers `Range: bytes=N-` with 206 and the rest, unless If-Range names another version', async () => {
    const whole = await fetch(`${mirror.url}${PATH}`)
    const etag = whole.headers.get('etag')!
    await whole.arrayBuffer()
    const rest = await fetch(`${mirror.url}${PATH}`, { headers: { range: 'bytes=99000-', 'if-range': etag } })
    expect(rest.status).toBe(206)
    expect(rest.headers.get('content-range')).toBe('bytes 99000-99999/100000')
    expect(Buffer.from(await rest.arrayBuffer()).equals(content.subarray(99000))).toBe(true)
    const changed = await fetch(`${mirror.url}${PATH}`, { headers: { range: 'bytes=99000-', 'if-range': '"another"' } })
    expect(changed.status).toBe(200)
    expect((await changed.arrayBuffer()).byteLength).toBe(100_000)
    const beyond = await fetch(`${mirror.url}${PATH}`, { headers: { range: 'bytes=100000-' } })
    expect(beyond.status).toBe(416)
    await beyond.arrayBuffer()
  })
})

describe('checksumsDocument', () => {
  it('groups sums by name, version and arch', () => {
    expect(checksumsDocument([
      { name: 'runc', version: '1.1.12', arch: 'amd64', sha256: 'a'.repeat(64) },
      { name: 'runc', version: '1.1.12', arch: 'arm64', sha256: 'b'.repeat(64) },
      { name: 'etcd', version: '3.5.13', arch: 'amd64', sha256: 'c'.repeat(64) },
    ])).toEqual({
      artifacts: {
        runc: { versions: { '1.1.12': { amd64: 'a'.repeat(64), arm64: 'b'.repeat(64) } } },
        etcd: { versions: { '3.5.13': { amd64: 'c'.repeat(64) } } },
      },
    })
  })
})
