import type { Command } from './quote.js'

export type OutputStream = 'stdout' | 'stderr'

export interface ExecOptions {
  /** Run through sudo when the login user is not root. */
  sudo?: boolean
  /** Kill the command and fail after this many milliseconds. */
  timeoutMs?: number
  /** Bytes fed to the command's standard input. */
  stdin?: string | Buffer
  /** Called once per complete output line, as it arrives. */
  onLine?: (stream: OutputStream, line: string) => void
  /** On abort the command and everything it started are stopped on the host, and exec rejects saying so. */
  signal?: AbortSignal
}

export interface ExecResult {
  code: number
  /** Output, capped to the last 1 MiB of each stream. */
  stdout: string
  stderr: string
}

export interface UploadOptions {
  /** File mode of the installed file, e.g. 0o755. */
  mode?: number
  sudo?: boolean
  /** sha256 of the local file when the caller already knows it (saves a read). */
  sha256?: string
  /** Keep what the machine had at the target before kk-action first wrote it (in the same round trip). */
  keepOriginal?: KeepOriginal
}

/**
 * Before the first write to a target (`marker` does not exist yet), an existing target is copied to `copy`,
 * unless something is there already; then `marker` is created. Later writes leave both alone.
 */
export interface KeepOriginal {
  copy: string
  marker: string
}

export interface TransferResult {
  /** False when the remote file already had the same sha256 and nothing was sent. */
  changed: boolean
  bytes: number
}

/** One machine the pipeline talks to: over SSH, or the runner itself. */
export interface Connection {
  readonly host: string
  exec(command: Command, options?: ExecOptions): Promise<ExecResult>
  /** Atomic: temp file beside the target, sha256 checked on the remote side, then rename. */
  upload(localPath: string, remotePath: string, options?: UploadOptions): Promise<TransferResult>
  download(remotePath: string, localPath: string, options?: { sudo?: boolean }): Promise<TransferResult>
  close(): Promise<void>
}
