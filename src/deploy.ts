import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClusterConfig, Host } from './config/types.js'
import { UserError } from './errors.js'
import type { Logger } from './log.js'
import { resolveArtifacts, type ResolvedArtifact } from './artifacts/resolve.js'
import { artifactKey } from './artifacts/types.js'
import { ConnectionPool, type ConnectOptions } from './nodes/connect.js'
import type { Connection } from './nodes/connection.js'
import type { EventSink } from './pipeline/events.js'
import { runPipeline, unimplementedModules, type PipelineResult } from './pipeline/runner.js'
import { CancelledError } from './pipeline/errors.js'
import { SHARED_KUBECONFIG_DESTINATION, type LocalArtifact } from './pipeline/types.js'
import { preparePlan, type PlanRequest, type PreparedPlan } from './core.js'
import type { DeploymentReport } from './report/report.js'

export interface DeployRequest extends PlanRequest {
  /** `target`: the config's hosts over SSH; `ephemeral`: the runner itself. */
  nodes: 'target' | 'ephemeral'
  connect: Omit<ConnectOptions, 'log'>
  /** Where verified artifacts are kept between runs. */
  artifactsDir?: string
  offlineDir?: string
  useCache: boolean
  concurrency: number
  events: EventSink
  signal?: AbortSignal
  /** Secrets that appear while the pipeline runs (join tokens, certificate keys, kubeconfig key data). */
  onSecret?: (value: string) => void
  /** Where the kubeconfig module writes the admin kubeconfig (default $RUNNER_TEMP/kubeconfig). */
  kubeconfigPath?: string
  /** Called once the plan exists (the report writes plan.json before anything runs). */
  onPlan?: (prepared: PreparedPlan) => void | Promise<void>
  /** Called with the resolved artifacts (for the summary), before the pipeline starts. */
  onArtifacts?: (resolved: ResolvedArtifact[]) => void
  /** Called with the host and its open connection when the pipeline fails (for diagnostics). */
  onFailure?: (failedHosts: string[], connectionOf: (host: string) => Promise<Connection | undefined>) => Promise<void>
}

export interface DeployResult {
  prepared: PreparedPlan
  resolved: ResolvedArtifact[]
  result: PipelineResult
}

export function defaultArtifactsDir(): string {
  const base = process.env.RUNNER_TEMP ?? process.env.XDG_CACHE_HOME ?? join(homedir() || tmpdir(), '.cache')
  return join(base, 'kk-action', 'artifacts')
}

/** config → plan → artifacts → pipeline: one deploy (or delete) from start to end. */
export async function deploy(request: DeployRequest): Promise<DeployResult> {
  const prepared = await preparePlan({ ...request, ephemeral: request.nodes === 'ephemeral' })
  const { plan } = prepared
  const config = prepared.loaded.config
  await request.onPlan?.(prepared)
  refuseUnimplemented(plan.modules.filter((m) => !m.skip).length ? unimplementedModules(plan) : [])

  const resolved = await resolveArtifacts(plan.artifacts, {
    dest: request.artifactsDir ?? defaultArtifactsDir(),
    mirror: request.mirror,
    offlineDir: request.offlineDir,
    useCache: request.useCache,
    // A verified file already in the artifacts directory (the CLI keeps it between runs) is used as it is.
    reuseExisting: true,
    concurrency: 4,
    log: request.logger,
    signal: request.signal,
  }).catch((error: unknown) => {
    if (request.signal?.aborted) throw new CancelledError(String(request.signal.reason))
    throw error
  })
  request.onArtifacts?.(resolved)
  const artifacts = new Map<string, LocalArtifact>(resolved.map((r) => [artifactKey(r.artifact), { artifact: r.artifact, path: r.path }]))

  const pool = new ConnectionPool({ ...request.connect, log: sshLog(request.logger) })
  // A cancelled run stops what runs: each command is stopped on its node (nodes/killable.ts; a connection
  // closes once its stops are done), and closing the connections ends the transfers.
  const stopRunning = () => void pool.closeAll()
  request.signal?.addEventListener('abort', stopRunning, { once: true })
  const connect = request.nodes === 'ephemeral' ? localConnector(pool) : (host: Host) => pool.get(host)
  try {
    const result = await runPipeline({
      plan, config, connect, artifacts,
      concurrency: request.concurrency,
      events: request.events,
      signal: request.signal,
      onSecret: request.onSecret,
      shared: new Map(request.kubeconfigPath ? [[SHARED_KUBECONFIG_DESTINATION, request.kubeconfigPath]] : []),
    })
    return { prepared, resolved, result }
  } catch (error) {
    if (request.onFailure && !request.signal?.aborted) {
      const failed = failedHostsOf(error, config)
      await request.onFailure(failed, async (name) => {
        const host = config.hosts.find((h) => h.name === name)
        return host ? connect(host).catch(() => undefined) : undefined
      }).catch(() => undefined)
    }
    throw error
  } finally {
    request.signal?.removeEventListener('abort', stopRunning)
    await pool.closeAll()
  }
}

/**
 * For `onFailure`: the diagnostics of the report's failing hosts, each on its connection (opened again if it
 * had dropped; a host that cannot be reached gets a diagnostics.log that says so). No report, nothing to do.
 */
export async function diagnoseFailingHosts(
  report: Pick<DeploymentReport, 'diagnose'> | undefined,
  connectionOf: (host: string) => Promise<Connection | undefined>,
): Promise<void> {
  await report?.diagnose(async (host) => {
    const connection = await connectionOf(host)
    if (!connection) throw new Error('the host could not be reached')
    return connection
  })
}

function refuseUnimplemented(modules: string[]): void {
  if (!modules.length) return
  throw new UserError(`module(s) ${modules.join(', ')} are not implemented in this version of kk-action`, {},
    `Deploy up to what is implemented with --until (e.g. --until etcd), or skip them with --skip`)
}

function localConnector(pool: ConnectionPool): (host: Host) => Promise<Connection> {
  const connections = new Map<string, Connection>()
  return async (host) => {
    if (!connections.has(host.name)) connections.set(host.name, pool.local(host.name))
    return connections.get(host.name)!
  }
}

function failedHostsOf(error: unknown, config: ClusterConfig): string[] {
  const failures = (error as { failures?: Array<{ host: string }> }).failures
  return failures ? [...new Set(failures.map((f) => f.host))] : config.hosts.map((h) => h.name)
}

function sshLog(logger: Logger) {
  return (level: 'debug' | 'info' | 'warn', message: string) =>
    level === 'warn' ? logger.warning(message) : level === 'info' ? logger.info(message) : logger.debug(message)
}
