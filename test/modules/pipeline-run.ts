/**
 * Runs real modules on test nodes without the CLI: the plan made with the mirror fixture's sums, its artifacts
 * taken straight from the mirror's files (no download layer), runPipeline over a real SSH connection pool that
 * counts the bytes every upload sent.
 */
import { builtinCatalog, withChecksumsFile } from '../../src/artifacts/catalog.js'
import { artifactKey } from '../../src/artifacts/types.js'
import type { ClusterConfig } from '../../src/config/types.js'
import { PIPELINES } from '../../src/modules/index.js'
import type { ModuleDefinition } from '../../src/modules/module.js'
import { ConnectionPool } from '../../src/nodes/connect.js'
import type { Connection } from '../../src/nodes/connection.js'
import type { PipelineEvent } from '../../src/pipeline/events.js'
import { runPipeline, type PipelineResult } from '../../src/pipeline/runner.js'
import type { LocalArtifact } from '../../src/pipeline/types.js'
import { buildPlan } from '../../src/plan/build.js'
import type { Plan, PlanOptions } from '../../src/plan/types.js'
import type { MirrorBuild } from '../fixtures/build-mirror.js'
import type { TestNodes } from '../nodes/testnodes.js'

export interface ModuleRunSetup {
  nodes: TestNodes
  mirror: MirrorBuild
  config: ClusterConfig
  plan: Plan
  artifacts: Map<string, LocalArtifact>
}

export interface ModuleRun {
  result?: PipelineResult
  error?: unknown
  events: PipelineEvent[]
  bytesUploaded: number
  ms: number
}

export interface ModuleRunOptions {
  concurrency: number
  onEvent?: (event: PipelineEvent) => void
  sshRetries?: number
  /** Module definitions in place of the pipeline's own (same ids). */
  modules?: ModuleDefinition[]
}

/** The plan for `config` with the mirror's checksums, and its artifacts as the mirror's files. */
export async function setupWithMirror(
  nodes: TestNodes, mirror: MirrorBuild, config: ClusterConfig, options: PlanOptions,
): Promise<ModuleRunSetup> {
  const { catalog } = withChecksumsFile(builtinCatalog, mirror.checksumsFile)
  const { plan } = await buildPlan(config, { catalog, ...options })
  return { nodes, mirror, config, plan, artifacts: mirrorArtifacts(plan, mirror) }
}

function mirrorArtifacts(plan: Plan, mirror: MirrorBuild): Map<string, LocalArtifact> {
  return new Map(plan.artifacts.map((artifact) => {
    const file = mirror.files.find((f) => f.name === artifact.name && f.version === artifact.version && f.arch === artifact.arch)
    if (!file) throw new Error(`the mirror has no ${artifact.name} ${artifact.version}`)
    if (file.sha256 !== artifact.sha256) throw new Error(`the plan's sum of ${artifact.name} ${artifact.version} is not the mirror file's`)
    return [artifactKey(artifact), { artifact, path: file.file }]
  }))
}

/** One runPipeline over a fresh connection pool; a failure is kept in `error`, not thrown. */
export async function runModules(setup: ModuleRunSetup, options: ModuleRunOptions): Promise<ModuleRun> {
  const pool = new ConnectionPool({ hostKeyPolicy: 'strict', knownHostsPath: setup.nodes.knownHostsPath, retries: options.sshRetries })
  const run: ModuleRun = { events: [], bytesUploaded: 0, ms: 0 }
  const started = Date.now()
  try {
    run.result = await runPipeline({
      plan: setup.plan, config: setup.config, artifacts: setup.artifacts, concurrency: options.concurrency,
      modules: PIPELINES.create.map((m) => options.modules?.find((replacement) => replacement.id === m.id) ?? m),
      events: { emit: (event) => { run.events.push(event); options.onEvent?.(event) } },
      connect: async (host) => counting(await pool.get(host), (bytes) => (run.bytesUploaded += bytes)),
    })
  } catch (error) {
    run.error = error
  } finally {
    run.ms = Date.now() - started
    await pool.closeAll()
  }
  return run
}

/** The connection, counting the bytes every upload really sent. */
function counting(connection: Connection, add: (bytes: number) => void): Connection {
  return {
    host: connection.host,
    exec: (command, options) => connection.exec(command, options),
    upload: async (local, remote, options) => {
      const transfer = await connection.upload(local, remote, options)
      add(transfer.bytes)
      return transfer
    },
    download: (remote, local, options) => connection.download(remote, local, options),
    close: () => connection.close(),
  }
}
