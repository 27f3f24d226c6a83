import { mkdir } from 'node:fs/promises'
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { dirname } from 'node:path'
import { PassThrough } from 'node:stream'
import type { Logger } from '../log.js'
import { ChecksumMismatchError, writeVerified } from './verified-file.js'

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
  constructor(message: string, readonly retryable: boolean, readonly retryAfterMs?: number) {
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
}

/**
 * Downloads `url` onto `target`, verified against `sha256` (see writeVerified), retrying transient
 * failures with backoff. Throws ChecksumMismatchError at once (another try of the same URL would
 * most likely give the same bytes) and DownloadFailure when the URL is given up on.
 */
export async function downloadWithRetries(request: DownloadRequest, tuning: DownloadTuning, log: Logger): Promise<number> {
  let lastFailure: DownloadFailure | undefined
  for (let attempt = 1; attempt <= tuning.attempts; attempt++) {
    try {
      return await downloadOnce(request, tuning, log)
    } catch (error) {
      if (error instanceof ChecksumMismatchError) throw error
      const failure = asDownloadFailure(error)
      lastFailure = failure
      if (!failure.retryable || attempt === tuning.attempts) break
      const delay = retryDelayMs(attempt, failure, tuning)
      if (delay === undefined) break
      log.info(`${request.label}: ${failure.message}; retrying in ${(delay / 1000).toFixed(1)} s (try ${attempt + 1} of ${tuning.attempts})`)
      await sleep(delay)
    }
  }
  throw lastFailure ?? new DownloadFailure('no attempt made', false)
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

async function downloadOnce(request: DownloadRequest, tuning: DownloadTuning, log: Logger): Promise<number> {
  await mkdir(dirname(request.target), { recursive: true })
  const watchdog = new StallWatchdog(tuning.stallTimeoutMs)
  try {
    const response = await getFollowingRedirects(request.url, tuning.maxRedirects, watchdog)
    checkResponse(response)
    const expectedLength = contentLength(response)
    const progress = new ProgressReporter(request.label, expectedLength, tuning, log)
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
      const bytes = await writeVerifiedChecked(counted, request, expectedLength)
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

/** A short body is a truncation (retry), not a checksum mismatch: check the length before the sum. */
async function writeVerifiedChecked(body: PassThrough, request: DownloadRequest, expectedLength: number | undefined): Promise<number> {
  try {
    return await writeVerified(body, request.target, request.sha256, request.url)
  } catch (error) {
    if (error instanceof ChecksumMismatchError && expectedLength !== undefined && error.bytes !== expectedLength) {
      throw new DownloadFailure(`got ${error.bytes} of ${expectedLength} bytes`, true)
    }
    throw error
  }
}

function checkResponse(response: IncomingMessage): void {
  const status = response.statusCode ?? 0
  if (status !== 200) {
    response.resume()
    const retryable = status >= 500 || status === 429 || status === 408
    throw new DownloadFailure(`HTTP ${status}`, retryable, retryable ? parseRetryAfter(response.headers['retry-after']) : undefined)
  }
  // A 200 with a page in place of a binary is an error page (KubeKey once saved a CDN's JSON error
  // as a .tgz). No artifact we fetch is HTML, JSON or XML.
  const type = (response.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (/^(text\/html|application\/json|application\/xml|text\/xml|application\/problem\+json)$/.test(type)) {
    response.resume()
    throw new DownloadFailure(`the server answered 200 with a ${type} page instead of the file`, true)
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

async function getFollowingRedirects(url: string, maxRedirects: number, watchdog: StallWatchdog): Promise<IncomingMessage> {
  let current = url
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const response = await get(current, watchdog)
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

function get(url: string, watchdog: StallWatchdog): Promise<IncomingMessage> {
  const parsed = new URL(url)
  const requestFn = parsed.protocol === 'https:' ? httpsRequest : parsed.protocol === 'http:' ? httpRequest : undefined
  if (!requestFn) return Promise.reject(new DownloadFailure(`unsupported URL scheme ${parsed.protocol}`, false))
  return new Promise((resolve, reject) => {
    const req: ClientRequest = requestFn(parsed, { headers: { 'user-agent': 'kk-action', accept: '*/*' } }, resolve)
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

  constructor(private readonly label: string, private readonly total: number | undefined, private readonly tuning: DownloadTuning, private readonly log: Logger) {
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
    this.log.info(`${this.label}: ${verb} ${mebibytes(this.bytes)}${of} in ${seconds.toFixed(1)} s (${mebibytes(this.bytes / Math.max(seconds, 0.001))}/s)`)
  }
}

export function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
