/**
 * TEST DOUBLE — stands in for GitHub's results service so the *real* `@actions/cache` v6 and
 * `@actions/artifact` v6 libraries can run in tests on a machine with no network.
 *
 * It speaks what those libraries speak (read from their code in node_modules):
 * - Twirp JSON at `POST /twirp/github.actions.results.api.v1.<Service>/<Method>`; requests carry
 *   proto field names (snake_case, int64 as strings); errors are `{ code, msg }` with an HTTP status.
 *   CacheService: GetCacheEntryDownloadURL, CreateCacheEntry, FinalizeCacheEntryUpload.
 *   ArtifactService: CreateArtifact, FinalizeArtifact, ListArtifacts, GetSignedArtifactURL.
 * - A path-style Azure blob endpoint, `/<account>/<container>/<blob>?sig=…` (the Azure SDK reads the
 *   first path segment of an IP-address URL as the storage account): PUT of a whole blob, PUT
 *   `comp=block&blockid=…` + PUT `comp=blocklist` (XML), GET/HEAD with `Range`/`x-ms-range`.
 *
 * Point the libraries at it with `resultsServiceEnv(service.url)`; see that function for the why of
 * each variable. Faults are injected per target (a Twirp method or a blob operation) and are used up
 * one request at a time, so "500 twice, then fine" is `fault('CreateCacheEntry', { kind: 'status',
 * status: 500, times: 2 })`.
 */
import { createHash, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

const TWIRP_PREFIX = '/twirp/github.actions.results.api.v1.'
const BLOB_ACCOUNT = 'devstoreaccount1'

export type TwirpMethod =
  | 'GetCacheEntryDownloadURL' | 'CreateCacheEntry' | 'FinalizeCacheEntryUpload'
  | 'CreateArtifact' | 'FinalizeArtifact' | 'ListArtifacts' | 'GetSignedArtifactURL'
export type FaultTarget = TwirpMethod | 'blob-get' | 'blob-put'

export type ResultsFault =
  /** Answer with this HTTP status (Twirp error body or Azure XML error); 429 may carry Retry-After. */
  | { kind: 'status'; status: number; retryAfterSeconds?: number; times?: number }
  /** A Twirp answer of 200 with `ok: false` (a miss, a refused reservation, a failed finalize). */
  | { kind: 'not-ok'; message?: string; times?: number }
  /** Drop the connection without an answer. */
  | { kind: 'reset'; times?: number }

export interface RecordedRequest {
  method: string
  /** Path without the query string. */
  path: string
  /** Twirp method or blob operation, when the path is one of ours. */
  target?: FaultTarget
  status: number
  /** Request body bytes received. */
  bytesIn: number
  /** Response body bytes sent. */
  bytesOut: number
  fault?: ResultsFault['kind']
}

export interface CacheEntry {
  id: number
  key: string
  version: string
  blobName: string
  finalized: boolean
  sizeBytes?: number
  createdAt: number
}

export interface StoredArtifact {
  id: number
  runId: string
  jobId: string
  name: string
  blobName: string
  finalized: boolean
  size?: number
  /** As sent by the library, e.g. `sha256:…`. */
  hash?: string
  createdAt: number
}

interface Blob {
  content: Buffer
  contentType?: string
  /** Staged, not yet committed blocks (block id → bytes). */
  blocks: Map<string, Buffer>
}

export interface ResultsService {
  /** Base URL with a trailing slash, e.g. `http://127.0.0.1:40123/`: the value of ACTIONS_RESULTS_URL. */
  url: string
  port: number
  requests: RecordedRequest[]
  cacheEntries: CacheEntry[]
  artifacts: StoredArtifact[]
  /** The bytes behind a cache entry or an artifact, once uploaded. */
  blobContent(blobName: string): Buffer | undefined
  fault(target: FaultTarget, fault: ResultsFault): void
  clearFaults(): void
  /** Forget requests, entries, artifacts, blobs and faults. */
  reset(): void
  stop(): Promise<void>
}

export interface ResultsServiceOptions {
  host?: string
  port?: number
}

export async function startResultsService(options: ResultsServiceOptions = {}): Promise<ResultsService> {
  const host = options.host ?? '127.0.0.1'
  const state = newState()
  const sockets = new Set<Socket>()
  let baseUrl = ''

  const server: Server = createServer((req, res) => {
    void handleRequest(state, baseUrl, req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { code: 'internal', msg: String(error) })
      else res.destroy()
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  baseUrl = `http://${host}:${port}/`

  return {
    url: baseUrl,
    port,
    requests: state.requests,
    cacheEntries: state.cacheEntries,
    artifacts: state.artifacts,
    blobContent: (name) => state.blobs.get(name)?.content,
    fault: (target, fault) => {
      const queue = state.faults.get(target) ?? []
      queue.push({ fault, remaining: fault.times ?? Number.POSITIVE_INFINITY })
      state.faults.set(target, queue)
    },
    clearFaults: () => state.faults.clear(),
    reset: () => {
      state.requests.length = 0
      state.cacheEntries.length = 0
      state.artifacts.length = 0
      state.blobs.clear()
      state.faults.clear()
    },
    stop: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    }),
  }
}

/**
 * The environment that makes @actions/cache and @actions/artifact talk to `url`. An `undefined`
 * value means "unset this variable" (see `applyEnv`).
 * - ACTIONS_CACHE_SERVICE_V2: selects the Twirp cache protocol (v1 is the retired REST one).
 * - ACTIONS_RUNTIME_TOKEN: an unsigned JWT; @actions/artifact reads the run and job ids from the
 *   `Actions.Results:<run>:<job>` entry of its `scp` claim and never checks a signature.
 * - GITHUB_SERVER_URL: anything but github.com, *.ghe.com or *.localhost makes the libraries assume
 *   GitHub Enterprise Server, which has no v2 cache service, so it is unset.
 */
export function resultsServiceEnv(url: string, ids: { runId?: string; jobId?: string } = {}): Record<string, string | undefined> {
  return {
    ACTIONS_CACHE_SERVICE_V2: '1',
    ACTIONS_RESULTS_URL: url,
    ACTIONS_CACHE_URL: undefined,
    ACTIONS_RUNTIME_TOKEN: unsignedRuntimeToken(ids.runId ?? 'run-1', ids.jobId ?? 'job-1'),
    GITHUB_SERVER_URL: undefined,
    ACTIONS_CACHE_MODE: undefined,
  }
}

export function unsignedRuntimeToken(runId: string, jobId: string): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const header = encode({ alg: 'none', typ: 'JWT' })
  const payload = encode({ scp: `Actions.GenericRead:1 Actions.Results:${runId}:${jobId}`, exp: 4102444800 })
  return `${header}.${payload}.`
}

/** Sets (or, for `undefined`, deletes) environment variables; returns a function that puts them back. */
export function applyEnv(vars: Record<string, string | undefined>): () => void {
  const saved = new Map<string, string | undefined>()
  for (const [name, value] of Object.entries(vars)) {
    saved.set(name, process.env[name])
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
}

/** A URL on which nothing listens, for "connection refused" (the port was free a moment ago). */
export async function refusedUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}/`
}

// ---------------------------------------------------------------------------------------------

interface ArmedFault {
  fault: ResultsFault
  remaining: number
}

interface State {
  requests: RecordedRequest[]
  cacheEntries: CacheEntry[]
  artifacts: StoredArtifact[]
  blobs: Map<string, Blob>
  faults: Map<FaultTarget, ArmedFault[]>
  nextId: number
}

function newState(): State {
  return { requests: [], cacheEntries: [], artifacts: [], blobs: new Map(), faults: new Map(), nextId: 1 }
}

interface Exchange {
  req: IncomingMessage
  res: ServerResponse
  record: RecordedRequest
  body: Buffer
  query: URLSearchParams
}

async function handleRequest(state: State, baseUrl: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const parsed = new URL(req.url ?? '/', baseUrl)
  const record: RecordedRequest = { method: req.method ?? 'GET', path: parsed.pathname, status: 0, bytesIn: 0, bytesOut: 0 }
  state.requests.push(record)
  const body = await readBody(req)
  record.bytesIn = body.length
  countResponseBytes(res, record)
  const exchange: Exchange = { req, res, record, body, query: parsed.searchParams }

  const target = targetOf(req.method ?? 'GET', parsed.pathname)
  record.target = target
  if (target === undefined) return sendJson(res, 404, { code: 'bad_route', msg: `no route for ${req.method} ${parsed.pathname}` })

  const fault = takeFault(state, target)
  if (fault) {
    record.fault = fault.kind
    return answerWithFault(exchange, target, fault)
  }
  if (target === 'blob-get' || target === 'blob-put') return handleBlob(state, exchange, blobNameOf(parsed.pathname))
  return handleTwirp(state, baseUrl, exchange, target, parseJson(body))
}

function targetOf(method: string, path: string): FaultTarget | undefined {
  if (path.startsWith(TWIRP_PREFIX) && method === 'POST') {
    const rpc = path.slice(TWIRP_PREFIX.length).split('/')[1]
    const known: TwirpMethod[] = ['GetCacheEntryDownloadURL', 'CreateCacheEntry', 'FinalizeCacheEntryUpload',
      'CreateArtifact', 'FinalizeArtifact', 'ListArtifacts', 'GetSignedArtifactURL']
    return known.find((name) => name === rpc)
  }
  if (path.startsWith(`/${BLOB_ACCOUNT}/`)) {
    if (method === 'PUT') return 'blob-put'
    if (method === 'GET' || method === 'HEAD') return 'blob-get'
  }
  return undefined
}

function blobNameOf(path: string): string {
  return decodeURIComponent(path.slice(`/${BLOB_ACCOUNT}/`.length))
}

function takeFault(state: State, target: FaultTarget): ResultsFault | undefined {
  const queue = state.faults.get(target)
  const armed = queue?.[0]
  if (!queue || !armed) return undefined
  armed.remaining -= 1
  if (armed.remaining <= 0) queue.shift()
  return armed.fault
}

function answerWithFault(exchange: Exchange, target: FaultTarget, fault: ResultsFault): void {
  const { res, record } = exchange
  if (fault.kind === 'reset') {
    record.status = -1
    res.socket?.destroy()
    return
  }
  if (fault.kind === 'not-ok') {
    return sendJson(res, 200, { ok: false, message: fault.message ?? '' }, record)
  }
  const headers: Record<string, string> = {}
  if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds)
  if (target === 'blob-get' || target === 'blob-put') {
    return sendAzureError(res, fault.status, fault.status === 404 ? 'BlobNotFound' : 'InternalError', headers, record)
  }
  sendJson(res, fault.status, { code: twirpCodeFor(fault.status), msg: `injected fault: HTTP ${fault.status}` }, record, headers)
}

function twirpCodeFor(status: number): string {
  if (status === 429) return 'resource_exhausted'
  if (status === 404) return 'not_found'
  if (status === 409) return 'already_exists'
  if (status === 401) return 'unauthenticated'
  if (status === 503) return 'unavailable'
  return 'internal'
}

// --- Twirp ----------------------------------------------------------------------------------

type Json = Record<string, unknown>

function handleTwirp(state: State, baseUrl: string, exchange: Exchange, method: TwirpMethod, request: Json): void {
  const { res, record, req } = exchange
  if (!(req.headers.authorization ?? '').startsWith('Bearer ')) {
    return sendJson(res, 401, { code: 'unauthenticated', msg: 'missing bearer token' }, record)
  }
  const answer = TWIRP_HANDLERS[method](state, baseUrl, request)
  sendJson(res, answer.status ?? 200, answer.body, record)
}

interface TwirpAnswer {
  status?: number
  body: Json
}

const TWIRP_HANDLERS: Record<TwirpMethod, (state: State, baseUrl: string, request: Json) => TwirpAnswer> = {
  GetCacheEntryDownloadURL(state, baseUrl, request) {
    const entry = findCacheEntry(state, String(request.key ?? ''), stringList(request.restore_keys), String(request.version ?? ''))
    if (!entry) return { body: { ok: false, signed_download_url: '', matched_key: '' } }
    return { body: { ok: true, signed_download_url: signedBlobUrl(baseUrl, entry.blobName, 'r'), matched_key: entry.key } }
  },
  CreateCacheEntry(state, baseUrl, request) {
    const key = String(request.key ?? '')
    const version = String(request.version ?? '')
    const existing = state.cacheEntries.find((entry) => entry.key === key && entry.version === version)
    if (existing) {
      // What GitHub answers when another job already saved (or is saving) this key.
      return { status: 409, body: { code: 'already_exists', msg: 'cache entry with the same key, version, and scope already exists' } }
    }
    const id = state.nextId++
    const entry: CacheEntry = { id, key, version, blobName: `cache/${id}`, finalized: false, createdAt: Date.now() }
    state.cacheEntries.push(entry)
    return { body: { ok: true, signed_upload_url: signedBlobUrl(baseUrl, entry.blobName, 'cw') } }
  },
  FinalizeCacheEntryUpload(state, _baseUrl, request) {
    const entry = state.cacheEntries.find((candidate) => candidate.key === request.key && candidate.version === request.version)
    if (!entry) return { status: 404, body: { code: 'not_found', msg: 'no cache entry reserved for this key and version' } }
    const size = Number(request.size_bytes ?? 0)
    const uploaded = state.blobs.get(entry.blobName)?.content.length
    if (uploaded !== size) return { body: { ok: false, entry_id: '0', message: `uploaded ${uploaded ?? 0} bytes, finalize says ${size}` } }
    entry.finalized = true
    entry.sizeBytes = size
    return { body: { ok: true, entry_id: String(entry.id) } }
  },
  CreateArtifact(state, baseUrl, request) {
    const runId = String(request.workflow_run_backend_id ?? '')
    const jobId = String(request.workflow_job_run_backend_id ?? '')
    const name = String(request.name ?? '')
    if (!runId || !jobId || !name) return { status: 400, body: { code: 'invalid_argument', msg: 'run, job and name are required' } }
    if (state.artifacts.some((artifact) => artifact.runId === runId && artifact.name === name && artifact.finalized)) {
      return { status: 409, body: { code: 'already_exists', msg: `an artifact with this name already exists on the workflow run` } }
    }
    const id = state.nextId++
    state.artifacts.push({ id, runId, jobId, name, blobName: `artifacts/${id}/${name}.zip`, finalized: false, createdAt: Date.now() })
    return { body: { ok: true, signed_upload_url: signedBlobUrl(baseUrl, `artifacts/${id}/${name}.zip`, 'cw') } }
  },
  FinalizeArtifact(state, _baseUrl, request) {
    const artifact = state.artifacts.find((candidate) => candidate.runId === request.workflow_run_backend_id
      && candidate.name === request.name && !candidate.finalized)
    if (!artifact) return { status: 404, body: { code: 'not_found', msg: 'no artifact created with this name' } }
    const content = state.blobs.get(artifact.blobName)?.content
    if (!content) return { body: { ok: false, artifact_id: '0' } }
    const hash = typeof request.hash === 'string' ? request.hash : undefined
    if (hash && hash !== `sha256:${createHash('sha256').update(content).digest('hex')}`) {
      return { status: 400, body: { code: 'invalid_argument', msg: 'hash does not match the uploaded blob' } }
    }
    artifact.finalized = true
    artifact.size = Number(request.size ?? content.length)
    artifact.hash = hash
    return { body: { ok: true, artifact_id: String(artifact.id) } }
  },
  ListArtifacts(state, _baseUrl, request) {
    const nameFilter = wrappedValue(request.name_filter)
    const idFilter = wrappedValue(request.id_filter)
    const artifacts = state.artifacts
      .filter((artifact) => artifact.finalized && artifact.runId === request.workflow_run_backend_id)
      .filter((artifact) => nameFilter === undefined || artifact.name === nameFilter)
      .filter((artifact) => idFilter === undefined || String(artifact.id) === idFilter)
      .map((artifact) => ({
        workflow_run_backend_id: artifact.runId,
        workflow_job_run_backend_id: artifact.jobId,
        database_id: String(artifact.id),
        name: artifact.name,
        size: String(artifact.size ?? 0),
        created_at: new Date(artifact.createdAt).toISOString(),
        ...(artifact.hash ? { digest: artifact.hash } : {}),
      }))
    return { body: { artifacts } }
  },
  GetSignedArtifactURL(state, baseUrl, request) {
    const artifact = state.artifacts.find((candidate) => candidate.finalized
      && candidate.runId === request.workflow_run_backend_id && candidate.name === request.name)
    if (!artifact) return { status: 404, body: { code: 'not_found', msg: 'artifact not found' } }
    return { body: { signed_url: signedBlobUrl(baseUrl, artifact.blobName, 'r') } }
  },
}

function findCacheEntry(state: State, key: string, restoreKeys: string[], version: string): CacheEntry | undefined {
  const usable = state.cacheEntries.filter((entry) => entry.finalized && entry.version === version)
  const exact = usable.find((entry) => entry.key === key)
  if (exact) return exact
  // Restore keys are prefixes; the newest entry wins, as on GitHub.
  for (const prefix of restoreKeys) {
    const matches = usable.filter((entry) => entry.key.startsWith(prefix)).sort((a, b) => b.createdAt - a.createdAt)
    if (matches[0]) return matches[0]
  }
  return undefined
}

function signedBlobUrl(baseUrl: string, blobName: string, permissions: string): string {
  const path = blobName.split('/').map(encodeURIComponent).join('/')
  return `${baseUrl}${BLOB_ACCOUNT}/${path}?sv=2023-11-03&sp=${permissions}&sig=${randomUUID()}`
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : []
}

/** Wrapper types (StringValue, Int64Value) arrive as the bare value in proto JSON. */
function wrappedValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'object' && 'value' in value) return String((value as { value: unknown }).value)
  return String(value)
}

// --- Blobs ----------------------------------------------------------------------------------

function handleBlob(state: State, exchange: Exchange, blobName: string): void {
  const { req, res, record, query, body } = exchange
  if (req.method === 'PUT') {
    const comp = query.get('comp')
    if (comp === 'block') return stageBlock(state, exchange, blobName)
    if (comp === 'blocklist') return commitBlockList(state, exchange, blobName)
    if (comp) return sendAzureError(res, 400, 'UnsupportedQueryParameter', {}, record)
    const blob = blobFor(state, blobName)
    blob.content = body
    blob.contentType = headerValue(req, 'x-ms-blob-content-type') ?? headerValue(req, 'content-type')
    blob.blocks.clear()
    return sendBlobCreated(res, record)
  }
  const blob = state.blobs.get(blobName)
  if (!blob || (blob.content.length === 0 && blob.blocks.size > 0)) return sendAzureError(res, 404, 'BlobNotFound', {}, record)
  serveBlob(exchange, blob)
}

function stageBlock(state: State, exchange: Exchange, blobName: string): void {
  const blockId = exchange.query.get('blockid')
  if (!blockId) return sendAzureError(exchange.res, 400, 'InvalidQueryParameterValue', {}, exchange.record)
  blobFor(state, blobName).blocks.set(blockId, exchange.body)
  sendBlobCreated(exchange.res, exchange.record)
}

function commitBlockList(state: State, exchange: Exchange, blobName: string): void {
  const blob = blobFor(state, blobName)
  const ids = [...exchange.body.toString('utf8').matchAll(/<(Latest|Uncommitted|Committed)>([^<]*)<\/\1>/g)].map((match) => match[2])
  const parts: Buffer[] = []
  for (const id of ids) {
    const block = blob.blocks.get(id)
    if (!block) return sendAzureError(exchange.res, 400, 'InvalidBlockList', {}, exchange.record)
    parts.push(block)
  }
  blob.content = Buffer.concat(parts)
  blob.contentType = headerValue(exchange.req, 'x-ms-blob-content-type') ?? blob.contentType
  blob.blocks.clear()
  sendBlobCreated(exchange.res, exchange.record)
}

function blobFor(state: State, blobName: string): Blob {
  let blob = state.blobs.get(blobName)
  if (!blob) {
    blob = { content: Buffer.alloc(0), blocks: new Map() }
    state.blobs.set(blobName, blob)
  }
  return blob
}

function serveBlob(exchange: Exchange, blob: Blob): void {
  const { req, res, record } = exchange
  const total = blob.content.length
  const range = parseRange(headerValue(req, 'x-ms-range') ?? headerValue(req, 'range'), total)
  const headers: Record<string, string> = {
    'content-type': blob.contentType ?? 'application/octet-stream',
    'accept-ranges': 'bytes',
    'x-ms-blob-type': 'BlockBlob',
    'x-ms-version': '2023-11-03',
    etag: '"0x1"',
    'last-modified': new Date(0).toUTCString(),
  }
  if (range === 'unsatisfiable') return sendAzureError(res, 416, 'InvalidRange', {}, record)
  const [start, end] = range ?? [0, total - 1]
  const slice = blob.content.subarray(start, end + 1)
  headers['content-length'] = String(slice.length)
  if (range) headers['content-range'] = `bytes ${start}-${end}/${total}`
  record.status = range ? 206 : 200
  res.writeHead(record.status, headers)
  res.end(req.method === 'HEAD' ? undefined : slice)
}

function parseRange(header: string | undefined, total: number): [number, number] | 'unsatisfiable' | undefined {
  const match = header?.match(/^bytes=(\d*)-(\d*)$/)
  if (!match) return undefined
  const [, from, to] = match
  if (from === '' && to === '') return undefined
  const start = from === '' ? Math.max(0, total - Number(to)) : Number(from)
  const end = from === '' || to === '' ? total - 1 : Math.min(Number(to), total - 1)
  if (start >= total || start > end) return 'unsatisfiable'
  return [start, end]
}

function sendBlobCreated(res: ServerResponse, record: RecordedRequest): void {
  record.status = 201
  res.writeHead(201, {
    etag: `"0x${Date.now().toString(16)}"`,
    'last-modified': new Date().toUTCString(),
    'x-ms-request-id': randomUUID(),
    'x-ms-version': '2023-11-03',
    'x-ms-request-server-encrypted': 'true',
    'content-length': '0',
  })
  res.end()
}

function sendAzureError(res: ServerResponse, status: number, code: string, headers: Record<string, string>, record: RecordedRequest): void {
  const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>injected or real error: ${code}</Message></Error>`
  record.status = status
  res.writeHead(status, { ...headers, 'content-type': 'application/xml', 'x-ms-error-code': code, 'content-length': String(Buffer.byteLength(xml)) })
  res.end(xml)
}

// --- plumbing -------------------------------------------------------------------------------

function sendJson(res: ServerResponse, status: number, body: Json, record?: RecordedRequest, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  if (record) record.status = status
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) })
  res.end(text)
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function countResponseBytes(res: ServerResponse, record: RecordedRequest): void {
  const originalEnd = res.end.bind(res)
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (Buffer.isBuffer(chunk) || typeof chunk === 'string') record.bytesOut += Buffer.byteLength(chunk)
    return (originalEnd as (...args: unknown[]) => ServerResponse)(chunk, ...rest)
  }) as ServerResponse['end']
}

function parseJson(body: Buffer): Json {
  if (body.length === 0) return {}
  try {
    const value: unknown = JSON.parse(body.toString('utf8'))
    return typeof value === 'object' && value !== null ? (value as Json) : {}
  } catch {
    return {}
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}
