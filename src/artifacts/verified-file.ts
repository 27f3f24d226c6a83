import { createHash, randomBytes, type Hash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/** The file's bytes did not hash to the sum the plan expects. */
export class ChecksumMismatchError extends Error {
  constructor(readonly from: string, readonly expected: string, readonly actual: string, readonly bytes: number) {
    super(`sha256 of ${from} is ${actual}, expected ${expected}`)
    this.name = 'ChecksumMismatchError'
  }
}

/** A pass-through stream that hashes and counts what flows through it. */
export class HashingCounter extends Transform {
  /** Starts from `hash` and `bytes` when earlier bytes of the same file were hashed already. */
  constructor(private readonly hash = createHash('sha256'), public bytes = 0) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk)
    this.bytes += chunk.length
    callback(null, chunk)
  }

  digest(): string {
    return this.hash.digest('hex')
  }
}

/** A sibling of `target`, so the final rename is atomic (same directory, same file system). */
export function temporaryPathFor(target: string): string {
  return `${target}.part-${process.pid}-${randomBytes(4).toString('hex')}`
}

/**
 * Streams `source` into a temporary file next to `target` while hashing it, and renames it onto
 * `target` only when the sum matches: `target` never holds a wrong or partial file.
 * `from` names the source in the mismatch error (a URL or a path). The target's directory must
 * exist: an await between making `source` and piping it would let its errors go unheard.
 */
export async function writeVerified(source: NodeJS.ReadableStream, target: string, expectedSha256: string, from: string): Promise<number> {
  const temporary = temporaryPathFor(target)
  const counter = new HashingCounter()
  try {
    await pipeline(source, counter, createWriteStream(temporary, { mode: 0o644 }))
    const actual = counter.digest()
    if (actual !== expectedSha256.toLowerCase()) throw new ChecksumMismatchError(from, expectedSha256, actual, counter.bytes)
    await rename(temporary, target)
    return counter.bytes
  } finally {
    await rm(temporary, { force: true })
  }
}

/** Copies a local file onto `target` through `writeVerified`. */
export async function copyVerified(sourceFile: string, target: string, expectedSha256: string): Promise<number> {
  await mkdir(dirname(target), { recursive: true })
  return writeVerified(createReadStream(sourceFile), target, expectedSha256, sourceFile)
}

/**
 * Moves a local file we own onto `target` when its sum matches: hashed in place, then renamed
 * (copied, verified, when `target` is on another file system).
 */
export async function moveVerified(sourceFile: string, target: string, expectedSha256: string): Promise<number> {
  const { size } = await stat(sourceFile)
  const actual = await sha256OfFile(sourceFile)
  if (actual !== expectedSha256.toLowerCase()) throw new ChecksumMismatchError(sourceFile, expectedSha256, actual, size)
  await mkdir(dirname(target), { recursive: true })
  try {
    await rename(sourceFile, target)
    return size
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error
    return copyVerified(sourceFile, target, expectedSha256)
  }
}

export async function sha256OfFile(file: string): Promise<string> {
  return (await hashFilePrefix(file, Number.POSITIVE_INFINITY)).digest('hex')
}

/** A running sha256 over the first `bytes` bytes of `file` (all of it for Infinity). */
export async function hashFilePrefix(file: string, bytes: number): Promise<Hash> {
  const hash = createHash('sha256')
  if (bytes <= 0) return hash
  const end = Number.isFinite(bytes) ? bytes - 1 : undefined
  for await (const chunk of createReadStream(file, { end })) hash.update(chunk as Buffer)
  return hash
}

/** `root` joined with plain name segments; undefined when a segment is empty, `.`/`..` or holds a separator. */
export function joinSegments(root: string, segments: string[]): string | undefined {
  const unsafe = segments.some((segment) => segment === '' || segment === '.' || segment === '..' || /[/\\\0]/.test(segment))
  return unsafe ? undefined : resolve(root, ...segments)
}

/**
 * `root` joined with a URL path, refusing paths that would leave `root` (a checksums file may set
 * its own URL template, so the path is not fully ours).
 */
export function pathInside(root: string, urlPath: string): string | undefined {
  const segments = urlPath.split('/').filter((segment) => segment !== '').map((segment) => decodeURIComponent(segment))
  if (segments.some((segment) => segment === '..' || segment === '.' || segment.includes('/') || segment.includes('\\'))) return undefined
  const full = resolve(root, ...segments)
  const inside = relative(resolve(root), full)
  return inside && !inside.startsWith('..') && !isAbsolute(inside) ? full : undefined
}
