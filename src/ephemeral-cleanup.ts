import type { Overrides } from './config/types.js'
import { deploy, type DeployResult } from './deploy.js'
import type { Logger } from './log.js'
import type { EventSink } from './pipeline/events.js'

/** The state key under which the main step leaves the cleanup request for the post step. */
export const EPHEMERAL_CLEANUP_STATE = 'ephemeral-cleanup'

/** What the post step needs from the main step to undo an ephemeral deploy (saved with core.saveState). */
export interface EphemeralCleanupRequest {
  /** The config file the main step deployed (the path as main read it; the workspace is the same). */
  configFile: string
  /** The overrides main applied: containerManager decides which runtime's files go. */
  overrides?: Overrides
  checksumsFile?: string
  logger: Logger
  events: EventSink
  signal?: AbortSignal
}

/**
 * `cleanup: true` with `nodes: ephemeral`: the delete pipeline (precheck, reset, cleanup) on the runner
 * itself, so a reused self-hosted runner starts the next job without the cluster. It needs no artifacts
 * and opens no SSH connection; the runner is the node the main step planned, by the same name and address.
 */
export async function cleanupEphemeral(request: EphemeralCleanupRequest): Promise<DeployResult> {
  return deploy({
    configFile: request.configFile,
    overrides: request.overrides,
    checksumsFile: request.checksumsFile,
    pipeline: 'delete',
    nodes: 'ephemeral',
    logger: request.logger,
    connect: { hostKeyPolicy: 'off' },
    useCache: false,
    concurrency: 1,
    events: request.events,
    signal: request.signal,
  })
}
