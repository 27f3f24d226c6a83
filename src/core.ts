import { loadConfig } from './config/load.js'
import { asEphemeral } from './config/ephemeral.js'
import type { LoadResult, Overrides } from './config/types.js'
import { builtinCatalog, withChecksumsFile } from './artifacts/catalog.js'
import { chartDigestReader, publishedSha256Reader } from './artifacts/published-sha256.js'
import { buildPlan } from './plan/build.js'
import type { PipelineName, PlanResult } from './plan/types.js'
import type { Logger } from './log.js'

export interface PlanRequest {
  configFile: string
  pipeline?: PipelineName
  overrides?: Overrides
  checksumsFile?: string
  mirror?: string
  skipModules?: string[]
  until?: string
  env?: NodeJS.ProcessEnv
  /** Plan for the runner itself as an all-in-one node (`nodes: ephemeral`). */
  ephemeral?: boolean
  /** A preview: chart sums whose index cannot be reached now are left for deploy (see PlanOptions). */
  preview?: boolean
  logger: Logger
}

export interface PreparedPlan extends PlanResult {
  loaded: LoadResult
}

/** config → plan: the first two stages, shared by every command of the CLI and the action. */
export async function preparePlan(request: PlanRequest): Promise<PreparedPlan> {
  const file = loadConfig(request.configFile, { overrides: request.overrides, env: request.env ?? process.env })
  for (const notice of file.notices) request.logger.notice(notice)
  const loaded = request.ephemeral ? { ...file, config: asEphemeral(file.config) } : file
  if (request.ephemeral) request.logger.info(`nodes: ephemeral: the runner (${loaded.config.hosts[0].name}) is the cluster's only node`)
  let catalog = builtinCatalog
  if (request.checksumsFile) {
    const merged = withChecksumsFile(catalog, request.checksumsFile)
    catalog = merged.catalog
    request.logger.info(`checksums: ${merged.count} sum(s) from ${request.checksumsFile}`)
  }
  const result = await buildPlan(loaded.config, {
    pipeline: request.pipeline,
    catalog,
    skipModules: request.skipModules,
    until: request.until,
    fetchSha256: publishedSha256Reader({ mirror: request.mirror }),
    fetchChartDigest: chartDigestReader({ mirror: request.mirror }),
    deferUnreachableChartSums: request.preview,
    locate: loaded.locate,
  })
  for (const notice of result.notices) request.logger.notice(notice)
  return { ...result, loaded }
}
