import { setTimeout as delay } from 'node:timers/promises'
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { dirname } from 'node:path'
import { PassThrough } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from '../log.js'
import { ChecksumMismatchError, HashingCounter, hashFilePrefix, temporaryPathFor } from './verified-file.js'

export interface DownloadTuning {
  /** Tries per URL for transient failures (5xx, 429, 408, timeouts, resets, error pages). */
  attempts: number
  /** First backoff delay; doubled per try, with jitter, up to `maxDelayMs`. */
  baseDelayMs: number
  maxDelayMs: number
  /** A Retry-After longer than this is not waited for: the URL counts as failed and the next source is tried. */
  maxRetryAfterMs: number
  /** No byte (nor header) for this long ends the try. */
  stallTimeoutMs: number
  /** A download still running after this long gets progress lines. */
  progressAfterMs: number
  progressEveryMs: number
  maxRedirects: number
}

export const DEFAULT_DOWNLOAD_TUNING: DownloadTuning = {
  attempts: 4,
  baseDelayMs: 1_000,
  maxDelayMs: 20_000,
  maxRetryAfterMs: 120_000,
  stallTimeoutMs: 30_000,
  progressAfterMs: 2_000,
  progressEveryMs: 10_000,
  maxRedirects: 5,
}

/** Why one try of one URL failed; `retryable` says whether the same URL is worth another try. */
export class DownloadFailure extends Error {
  /** `startOver`: what earlier tries kept cannot be continued; the next try starts from byte 0. */
  constructor(message: string, readonly retryable: boolean, readonly retryAfterMs?: number, readonly startOver = false) {
    super(message)
    this.name = 'DownloadFailure'
  }
}

export interface DownloadRequest {
  url: string
  target: string
  sha256: string
  /** For log lines, e.g. "kubeadm v1.30.1 amd64". */
  label: string
  /** Aborting stops the transfer at once, with no retry (a cancelled run). */
  signal?: AbortSignal
}

/**
 * Downloads `url` onto `target`, verified against `sha256`: the bytes go to a temporary file next
 * to `target`, hashed as they arrive, and are renamed onto `target` only when the sum matches.
 * Transient failures are retried with backoff, and a retry resumes where the last try stopped
 * (a Range request; the bytes kept are hashed again from disk, so the sum always covers exactly
 * what is in the file). Throws ChecksumMismatchError at once (another try of the same URL would
 * most likely give the same bytes) and DownloadFailure when the URL is given up on.
 */
export async function downloadWithRetries(request: DownloadRequest, tuning: DownloadTuning, log: Logger): Promise<number> {
  await mkdir(dirname(request.target), { recursive: true })
  const partial: PartialFile = { path: temporaryPathFor(request.target) }
  let lastFailure: DownloadFailure | undefined
  try {
    for (let attempt = 1; attempt <= tuning.attempts; attempt++) {
      try {
        return await downloadOnce(request, partial, tuning, log)
      } catch (error) {
        if (error instanceof ChecksumMismatchError || request.signal?.aborted) throw error
        const failure = asDownloadFailure(error)
        lastFailure = failure
        if (failure.startOver) await forget(partial)
        if (!failure.retryable || attempt === tuning.attempts) break
        const delay = retryDelayMs(attempt, failure, tuning)
        if (delay === undefined) break
        log.info(`${request.label}: ${failure.message}; retrying in ${(delay / 1000).toFixed(1)} s (try ${attempt + 1} of ${tuning.attempts})`)
        await sleep(delay, request.signal)
      }
    }
  } finally {
    await rm(partial.path, { force: true })
  }
  throw lastFailure ?? new DownloadFailure('no attempt made', false)
}

async function forget(partial: PartialFile): Promise<void> {
  await rm(partial.path, { force: true })
  partial.validator = undefined
}

/** What earlier tries of one URL left on disk. */
interface PartialFile {
  path: string
  /** The strong ETag (or Last-Modified) of the response the bytes came from, for If-Range. */
  validator?: string
}

function retryDelayMs(attempt: number, failure: DownloadFailure, tuning: DownloadTuning): number | undefined {
  if (failure.retryAfterMs !== undefined) {
    return failure.retryAfterMs > tuning.maxRetryAfterMs ? undefined : failure.retryAfterMs
  }
  const exponential = Math.min(tuning.maxDelayMs, tuning.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(exponential * (0.75 + Math.random() * 0.5))
}

function asDownloadFailure(error: unknown): DownloadFailure {
  if (error instanceof DownloadFailure) return error
  const code = (error as NodeJS.ErrnoException)?.code
  const message = (error as Error)?.message ?? String(error)
  // Refused, reset, unreachable, DNS: all worth another try after a pause (DNS and refusals often are
  // a runner's network still coming up); the try count bounds the cost.
  return new DownloadFailure(code ? `${code} (${message})` : message, true)
}

async function downloadOnce(request: DownloadRequest, partial: PartialFile, tuning: DownloadTuning, log: Logger): Promise<number> {
  const kept = await fileSize(partial.path)
  const headers: Record<string, string> = kept > 0
    ? { range: `bytes=${kept}-`, ...(partial.validator ? { 'if-range': partial.validator } : {}) }
    : {}
  const watchdog = new StallWatchdog(tuning.stallTimeoutMs)
  try {
    const response = await getFollowingRedirects(request.url, headers, tuning.maxRedirects, watchdog, request.signal)
    const offset = checkResponse(response, kept)
    partial.validator = validatorOf(response)
    // Hashed before the body is piped anywhere: nothing can fail unheard during this await.
    const counter = new HashingCounter(await hashFilePrefix(partial.path, offset), offset)
    const remaining = contentLength(response)
    const total = remaining === undefined ? undefined : offset + remaining
    const progress = new ProgressReporter(request.label, total, offset, tuning, log)
    const counted = new PassThrough()
    response.on('data', (chunk: Buffer) => {
      watchdog.touch()
      progress.add(chunk.length)
    })
    response.on('aborted', () => counted.destroy(new DownloadFailure('the connection closed before the whole file arrived', true)))
    response.pipe(counted)
    response.on('error', (error) => counted.destroy(error))
    watchdog.onStall(() => counted.destroy(new DownloadFailure(`no data for ${tuning.stallTimeoutMs / 1000} s`, true)))
    try {
      const bytes = await appendAndVerify(counted, counter, request, partial, total)
      progress.done(bytes)
      return bytes
    } finally {
      progress.stop()
      response.destroy()
    }
  } finally {
    watchdog.stop()
  }
}

/**
 * Writes the body into the partial file after the bytes `counter` has hashed, and renames it onto the target when the
 * whole file is there and its sum matches. A short body keeps the partial file for the next try.
 */
async function appendAndVerify(body: PassThrough, counter: HashingCounter, request: DownloadRequest, partial: PartialFile, total: number | undefined): Promise<number> {
  const append = counter.bytes > 0
  await pipeline(body, counter, createWriteStream(partial.path, append ? { flags: 'a' } : { flags: 'w', mode: 0o644 }))
  if (total !== undefined && counter.bytes !== total) throw new DownloadFailure(`got ${counter.bytes} of ${total} bytes`, true)
  const actual = counter.digest()
  if (actual !== request.sha256.toLowerCase()) {
    await forget(partial)
    throw new ChecksumMismatchError(request.url, request.sha256, actual, counter.bytes)
  }
  await rename(partial.path, request.target)
  return counter.bytes
}

/** The offset the body starts at: 0 for a whole file, `kept` for a resumed one. Throws for an error answer. */
function checkResponse(response: IncomingMessage, kept: number): number {
  const status = response.statusCode ?? 0
  if (status === 206) {
    const start = /^bytes (\d+)-/.exec(String(response.headers['content-range'] ?? ''))?.[1]
    if (kept > 0 && Number(start) === kept) return checkContentType(response, kept)
    response.resume()
    throw new DownloadFailure(`the server resumed at ${start ?? 'an unknown offset'} instead of ${kept}`, true, undefined, true)
  }
  if (status === 416 && kept > 0) {
    // What we kept is not a prefix the server can continue (the file changed or was complete): start over.
    response.resume()
    throw new DownloadFailure('the server cannot resume this file; starting over', true, undefined, true)
  }
  if (status !== 200) {
    response.resume()
    const retryable = status >= 500 || status === 429 || status === 408
    throw new DownloadFailure(`HTTP ${status}`, retryable, retryable ? parseRetryAfter(response.headers['retry-after']) : undefined)
  }
  return checkContentType(response, 0)
}

/**
 * A 200 with a page in place of a binary is an error page (KubeKey once saved a CDN's JSON error
 * as a .tgz). No artifact we fetch is HTML, JSON or XML.
 */
function checkContentType(response: IncomingMessage, offset: number): number {
  const type = (response.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (/^(text\/html|application\/json|application\/xml|text\/xml|application\/problem\+json)$/.test(type)) {
    response.resume()
    throw new DownloadFailure(`the server answered ${response.statusCode} with a ${type} page instead of the file`, true)
  }
  return offset
}

/** Only strong validators may be used with If-Range. */
function validatorOf(response: IncomingMessage): string | undefined {
  const etag = response.headers.etag
  if (etag && !etag.startsWith('W/')) return etag
  return response.headers['last-modified']
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size
  } catch {
    return 0
  }
}

function contentLength(response: IncomingMessage): number | undefined {
  const header = response.headers['content-length']
  const length = header === undefined ? NaN : Number(header)
  return Number.isFinite(length) ? length : undefined
}

export function parseRetryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

async function getFollowingRedirects(
  url: string, headers: Record<string, string>, maxRedirects: number, watchdog: StallWatchdog, signal: AbortSignal | undefined,
): Promise<IncomingMessage> {
  let current = url
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const response = await get(current, headers, watchdog, signal)
    const status = response.statusCode ?? 0
    const location = response.headers.location
    if (status >= 300 && status < 400 && location) {
      response.resume()
      current = new URL(location, current).href
      continue
    }
    return response
  }
  throw new DownloadFailure(`more than ${maxRedirects} redirects`, false)
}

function get(url: string, headers: Record<string, string>, watchdog: StallWatchdog, signal: AbortSignal | undefined): Promise<IncomingMessage> {
  const parsed = new URL(url)
  const requestFn = parsed.protocol === 'https:' ? httpsRequest : parsed.protocol === 'http:' ? httpRequest : undefined
  if (!requestFn) return Promise.reject(new DownloadFailure(`unsupported URL scheme ${parsed.protocol}`, false))
  return new Promise((resolve, reject) => {
    const req: ClientRequest = requestFn(parsed, { headers: { 'user-agent': 'kk-action', accept: '*/*', ...headers }, signal }, resolve)
    watchdog.touch()
    watchdog.onStall(() => req.destroy(new DownloadFailure(`no answer for ${watchdog.timeoutMs / 1000} s`, true)))
    req.on('error', reject)
    req.end()
  })
}

/** Fires once when `touch` has not been called for `timeoutMs`. */
class StallWatchdog {
  private timer: NodeJS.Timeout | undefined
  private handler: () => void = () => {}
  constructor(readonly timeoutMs: number) {}

  onStall(handler: () => void): void {
    this.handler = handler
    this.touch()
  }

  touch(): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.handler(), this.timeoutMs)
  }

  stop(): void {
    clearTimeout(this.timer)
  }
}

/** Logs bytes and rate for downloads that take longer than `progressAfterMs`. */
class ProgressReporter {
  private bytes = 0
  private readonly started = Date.now()
  private timer: NodeJS.Timeout
  private reported = false

  constructor(
    private readonly label: string, private readonly total: number | undefined, private readonly bytesAtStart: number,
    private readonly tuning: DownloadTuning, private readonly log: Logger,
  ) {
    this.bytes = bytesAtStart
    this.timer = setTimeout(() => this.tick(), tuning.progressAfterMs)
  }

  add(bytes: number): void {
    this.bytes += bytes
  }

  done(bytes: number): void {
    this.bytes = bytes
    if (this.reported) this.report('downloaded')
  }

  stop(): void {
    clearTimeout(this.timer)
  }

  private tick(): void {
    this.report('downloading')
    this.timer = setTimeout(() => this.tick(), this.tuning.progressEveryMs)
  }

  private report(verb: string): void {
    this.reported = true
    const seconds = (Date.now() - this.started) / 1000
    const of = this.total ? ` of ${mebibytes(this.total)}` : ''
    const rate = (this.bytes - this.bytesAtStart) / Math.max(seconds, 0.001)
    this.log.info(`${this.label}: ${verb} ${mebibytes(this.bytes)}${of} in ${seconds.toFixed(1)} s (${mebibytes(rate)}/s)`)
  }
}

export function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return delay(ms, undefined, { signal })
}
