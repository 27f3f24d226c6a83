import type { ClusterConfig, Host } from '../config/types.js'
import type { ArtifactName, PlannedArtifact } from '../artifacts/types.js'
import type { ExecOptions, ExecResult, TransferResult, UploadOptions } from '../nodes/connection.js'
import type { Command } from '../nodes/quote.js'
import type { ModuleId, Plan } from '../plan/types.js'

/** The `shared` key under which the kubeconfig module leaves the path of the kubeconfig it wrote. */
export const SHARED_KUBECONFIG_PATH = 'kubeconfig-path'
/** The `shared` key a caller seeds (RunOptions.shared) with where the kubeconfig module should write (`--kubeconfig`). */
export const SHARED_KUBECONFIG_DESTINATION = 'kubeconfig-destination'

/** An artifact on the runner, resolved and verified, as a module sees it. */
export interface LocalArtifact {
  artifact: PlannedArtifact
  /** Path of the verified file on the runner. */
  path: string
}

/** What a task sees on one host. */
export interface TaskContext {
  host: Host
  config: ClusterConfig
  plan: Plan
  module: ModuleId
  /** Run a command (through sudo for non-root users); a non-zero exit throws unless `allowFailure`. */
  exec(command: Command, options?: ExecOptions & { allowFailure?: boolean }): Promise<ExecResult>
  upload(localPath: string, remotePath: string, options?: UploadOptions): Promise<TransferResult>
  /** Copies a file from the host to the runner (through sudo), verified by sha256. */
  download(remotePath: string, localPath: string): Promise<TransferResult>
  /** One of the artifacts this module declared for this host's arch; anything else is refused. */
  artifact(name: ArtifactName): LocalArtifact
  /** Values handed from one task or module to a later one (e.g. the join command from init). */
  shared: Map<string, unknown>
  /** Record that this task changed the host (Ansible's "changed"). */
  changed(): void
  log(line: string): void
  /** A value born on a node (join token, certificate key, key data): never to appear in logs from now on. */
  secret(value: string): void
  /** Something the user should see even when the deploy succeeds (an annotation in the action). */
  warn(message: string): void
}

export interface Task {
  name: string
  /** The module's hosts this task runs on; all of them by default. */
  hosts?: (hosts: Host[]) => Host[]
  /** One host at a time (e.g. joining control planes). */
  serial?: boolean
  retries?: number
  retryDelayMs?: number
  timeoutMs?: number
  run(ctx: TaskContext): Promise<void>
}
