/**
 * TEST DOUBLE — a local HTTP server that serves files under their upstream URL paths, like a `mirror`
 * (KubeKey's KKZONE=cn) or, started a second time, like upstream itself. Tests build it from files
 * they make, inject faults per path, and read the log of every request it answered.
 *
 *   const mirror = await startMirror({ files: { '/release/v1.30.1/bin/linux/amd64/kubeadm': bytes } })
 *   mirror.fault('/release/v1.30.1/bin/linux/amd64/kubeadm', { kind: 'status', status: 500, times: 1 })
 *   ... mirror.requests → [{ method: 'GET', path, status: 500, bytes: 0, fault: 'status' }, { ..., status: 200 }]
 */
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type MirrorFault =
  /** An HTTP error status with a small text body (500 then OK: `times: 1`); 429 may carry Retry-After. */
  | { kind: 'status'; status: number; retryAfterSeconds?: number; times?: number }
  /** Content-Length of the whole file, then only `bytes` of it (default half) and the connection ends. */
  | { kind: 'truncate'; bytes?: number; times?: number }
  /** The connection is reset (RST) after `afterBytes` of the body (default 0: before any header). */
  | { kind: 'reset'; afterBytes?: number; times?: number }
  /** Headers and `afterBytes` of the body (default 0), then silence until the client gives up. */
  | { kind: 'stall'; afterBytes?: number; times?: number }
  /** The connection is accepted and the request read, and no status line ever comes. */
  | { kind: 'no-answer'; times?: number }
  /** 200 with an error page in place of the file (KubeKey once saved a CDN's JSON error as a .tgz). */
  | { kind: 'error-page'; contentType?: 'text/html' | 'application/json'; times?: number }
  /** 200 with other bytes of the same length, served as a binary: only the sha256 can tell. */
  | { kind: 'wrong-file'; times?: number }
  /** The body sent at this rate, to see progress lines. */
  | { kind: 'slow'; bytesPerSecond: number; times?: number }
  /** A 302 to another path on this server that serves the same file (GitHub releases redirect). */
  | { kind: 'redirect'; times?: number }

export interface MirrorRequest {
  method: string
  path: string
  /** -1 when the connection was reset before a status line. */
  status: number
  /** Body bytes written to the socket. */
  bytes: number
  fault?: MirrorFault['kind']
  /** The Range header, when the client sent one. */
  range?: string
}

export interface Mirror {
  /** Base URL without a trailing slash: base + upstream path = file URL. */
  url: string
  port: number
  requests: MirrorRequest[]
  files: Map<string, Buffer>
  add(path: string, content: Buffer): void
  fault(path: string, fault: MirrorFault): void
  clearFaults(): void
  /** Requests whose path contains `fragment`. */
  requestsFor(fragment: string): MirrorRequest[]
  stop(): Promise<void>
}

export interface MirrorOptions {
  files?: Record<string, Buffer> | Map<string, Buffer>
  /** Serve under this path prefix (a mirror at `http://host/kubekey`), default none. */
  prefix?: string
}

const REDIRECT_PREFIX = '/__redirected'

export async function startMirror(options: MirrorOptions = {}): Promise<Mirror> {
  const files = new Map<string, Buffer>(options.files instanceof Map ? options.files : Object.entries(options.files ?? {}))
  const faults = new Map<string, { fault: MirrorFault; remaining: number }[]>()
  const requests: MirrorRequest[] = []
  const sockets = new Set<Socket>()
  const prefix = (options.prefix ?? '').replace(/\/+$/, '')

  const server = createServer((req, res) => {
    const record: MirrorRequest = { method: req.method ?? 'GET', path: new URL(req.url ?? '/', 'http://x').pathname, status: 0, bytes: 0 }
    if (req.headers.range) record.range = req.headers.range
    requests.push(record)
    const filePath = filePathOf(record.path, prefix)
    const content = filePath === undefined ? undefined : files.get(filePath)
    const fault = filePath === undefined || record.path.startsWith(prefix + REDIRECT_PREFIX) ? undefined : takeFault(faults, filePath)
    if (fault) record.fault = fault.kind
    if (!content) {
      if (fault?.kind === 'status') return sendStatus(res, record, fault)
      return sendText(res, record, 404, 'text/plain', `404 Not Found: ${record.path}\n`)
    }
    serve(req, res, record, content, fault, prefix)
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as AddressInfo).port

  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    port,
    requests,
    files,
    add: (path, content) => files.set(path, content),
    fault: (path, fault) => {
      const queue = faults.get(path) ?? []
      queue.push({ fault, remaining: fault.times ?? Number.POSITIVE_INFINITY })
      faults.set(path, queue)
    },
    clearFaults: () => faults.clear(),
    requestsFor: (fragment) => requests.filter((request) => request.path.includes(fragment)),
    stop: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    }),
  }
}

function filePathOf(requestPath: string, prefix: string): string | undefined {
  if (!requestPath.startsWith(prefix + '/')) return undefined
  const path = decodeURIComponent(requestPath.slice(prefix.length))
  return path.startsWith(REDIRECT_PREFIX + '/') ? path.slice(REDIRECT_PREFIX.length) : path
}

function takeFault(faults: Map<string, { fault: MirrorFault; remaining: number }[]>, path: string): MirrorFault | undefined {
  const queue = faults.get(path)
  const armed = queue?.[0]
  if (!queue || !armed) return undefined
  armed.remaining -= 1
  if (armed.remaining <= 0) queue.shift()
  return armed.fault
}

function serve(req: IncomingMessage, res: ServerResponse, record: MirrorRequest, content: Buffer, fault: MirrorFault | undefined, prefix: string): void {
  const head = req.method === 'HEAD'
  switch (fault?.kind) {
    case undefined:
      return sendBody(res, record, content, head, resumeOffset(req, content))
    case 'status':
      return sendStatus(res, record, fault)
    case 'redirect':
      record.status = 302
      res.writeHead(302, { location: `${prefix}${REDIRECT_PREFIX}${record.path.slice(prefix.length)}`, 'content-length': '0' })
      return void res.end()
    case 'error-page': {
      const type = fault.contentType ?? 'text/html'
      const page = type === 'text/html'
        ? '<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1><p>The CDN could not reach the origin.</p></body></html>\n'
        : '{"code":"AccessDenied","message":"Request has expired"}\n'
      return sendText(res, record, 200, type, page)
    }
    case 'wrong-file':
      return sendBody(res, record, Buffer.from(content.map((byte) => byte ^ 0x5a)), head, resumeOffset(req, content))
    case 'truncate': {
      const bytes = Math.min(fault.bytes ?? Math.floor(content.length / 2), content.length - 1)
      writeHeaders(res, record, content.length, etagOf(content))
      return writeThen(res, record, content.subarray(0, bytes), () => res.socket?.destroy())
    }
    case 'reset': {
      const afterBytes = fault.afterBytes ?? 0
      if (afterBytes === 0) {
        record.status = -1
        return void res.socket?.resetAndDestroy()
      }
      writeHeaders(res, record, content.length, etagOf(content))
      return writeThen(res, record, content.subarray(0, afterBytes), () => res.socket?.resetAndDestroy())
    }
    case 'no-answer':
      return
    case 'stall':
      writeHeaders(res, record, content.length, etagOf(content))
      // Nothing more is written; the client's stall timeout has to notice. stop() closes the socket.
      return writeThen(res, record, content.subarray(0, fault.afterBytes ?? 0), () => undefined)
    case 'slow':
      writeHeaders(res, record, content.length, etagOf(content))
      return trickle(res, record, content, fault.bytesPerSecond)
  }
}

function writeHeaders(res: ServerResponse, record: MirrorRequest, length: number, etag?: string): void {
  record.status = 200
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(length), ...(etag ? { etag } : {}) })
  res.flushHeaders()
}

function etagOf(content: Buffer): string {
  return `"${sha256Hex(content).slice(0, 16)}"`
}

/** The start of an honoured `Range: bytes=N-` (with a matching If-Range, if any), else undefined. */
function resumeOffset(req: IncomingMessage, content: Buffer): number | undefined {
  const start = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1]
  if (start === undefined) return undefined
  const ifRange = req.headers['if-range']
  if (ifRange !== undefined && ifRange !== etagOf(content)) return undefined
  return Number(start)
}

function writeThen(res: ServerResponse, record: MirrorRequest, chunk: Buffer, then: () => void): void {
  if (chunk.length === 0) return then()
  record.bytes += chunk.length
  res.write(chunk, () => setTimeout(then, 20))
}

function trickle(res: ServerResponse, record: MirrorRequest, content: Buffer, bytesPerSecond: number): void {
  const tickMs = 100
  const perTick = Math.max(1, Math.floor((bytesPerSecond * tickMs) / 1000))
  let offset = 0
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer)
    const chunk = content.subarray(offset, offset + perTick)
    offset += chunk.length
    record.bytes += chunk.length
    if (offset >= content.length) {
      clearInterval(timer)
      res.end(chunk)
    } else {
      res.write(chunk)
    }
  }, tickMs)
  res.on('close', () => clearInterval(timer))
}

function sendBody(res: ServerResponse, record: MirrorRequest, content: Buffer, head: boolean, offset?: number): void {
  if (offset !== undefined && offset >= content.length) {
    return sendText(res, record, 416, 'text/plain', 'range not satisfiable\n', { 'content-range': `bytes */${content.length}` })
  }
  const body = offset === undefined ? content : content.subarray(offset)
  if (offset === undefined) {
    writeHeaders(res, record, content.length, etagOf(content))
  } else {
    record.status = 206
    res.writeHead(206, {
      'content-type': 'application/octet-stream', 'content-length': String(body.length), etag: etagOf(content),
      'content-range': `bytes ${offset}-${content.length - 1}/${content.length}`,
    })
  }
  if (!head) record.bytes = body.length
  res.end(head ? undefined : body)
}

function sendStatus(res: ServerResponse, record: MirrorRequest, fault: Extract<MirrorFault, { kind: 'status' }>): void {
  const headers: Record<string, string> = {}
  if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds)
  sendText(res, record, fault.status, 'text/plain', `injected fault: HTTP ${fault.status}\n`, headers)
}

function sendText(res: ServerResponse, record: MirrorRequest, status: number, type: string, text: string, headers: Record<string, string> = {}): void {
  record.status = status
  record.bytes = Buffer.byteLength(text)
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': String(record.bytes) })
  res.end(text)
}

// --- files and their sums ---------------------------------------------------------------------

export function sha256Hex(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex')
}

/**
 * Deterministic, incompressible-looking bytes for a synthetic artifact: the same name gives the same
 * file in every run, so sums written once stay valid.
 */
export function syntheticBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size)
  let block = createHash('sha256').update(seed).digest()
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset)
    block = createHash('sha256').update(block).digest()
  }
  return out
}

export interface ChecksumEntry {
  name: string
  version: string
  arch: string
  sha256: string
}

/**
 * A user `checksums` file (the catalog's entry shape, partial):
 * `{ artifacts: { <name>: { versions: { <version>: { <arch>: sha256 } } } } }`.
 */
export function checksumsDocument(entries: ChecksumEntry[]): { artifacts: Record<string, { versions: Record<string, Record<string, string>> }> } {
  const artifacts: Record<string, { versions: Record<string, Record<string, string>> }> = {}
  for (const { name, version, arch, sha256 } of entries) {
    const versions = (artifacts[name] ??= { versions: {} }).versions
    ;(versions[version] ??= {})[arch] = sha256
  }
  return { artifacts }
}

export async function writeChecksumsFile(file: string, entries: ChecksumEntry[]): Promise<void> {
  await writeFile(file, `${JSON.stringify(checksumsDocument(entries), null, 2)}\n`)
}
