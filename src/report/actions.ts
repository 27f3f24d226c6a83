/**
 * The report's side of the action's two steps. The main step records where the logs are
 * (`recordLogsDir`) and writes the job summary (`writeJobSummary`); the post step (post-if: always, so
 * also after a failure or a cancellation) uploads them (`uploadLogsInPostStep`).
 */
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as core from '@actions/core'
import { fanOut, type EventSink } from '../pipeline/events.js'
import type { Plan } from '../plan/types.js'
import { actionsConsoleSink } from './actions-console.js'
import type { Redactor } from './redact.js'
import { createLogsDir, DeploymentReport, type ReportOutcome } from './report.js'
import { uploadLogs, logsArtifactName, type UploadRequest } from './upload.js'

const STATE_LOGS_DIR = 'logs-dir'

export interface ActionReport {
  report: DeploymentReport
  /** The pipeline's `events`: the logs directory and the Actions log (groups, lines, annotations). */
  events: EventSink
}

/**
 * Main step, before the pipeline: a fresh logs directory under $RUNNER_TEMP, recorded for the post step
 * and as the `logs-dir` output; secrets found on the way (join tokens, keys) are masked by the runner too.
 */
export function startActionReport(plan: Plan, redactor: Redactor): ActionReport {
  redactor.onSecret = (value) => core.setSecret(value)
  for (const secret of redactor.secrets()) core.setSecret(secret)
  const dir = createLogsDir(process.env.RUNNER_TEMP || tmpdir())
  recordLogsDir(dir)
  const report = DeploymentReport.open({ dir, plan, redactor })
  return { report, events: fanOut(report, actionsConsoleSink(redactor)) }
}

/** Main step, after the pipeline (also when it threw): summary.md and the job summary. */
export async function finishActionReport(report: DeploymentReport, outcome: ReportOutcome): Promise<void> {
  const logs = { artifactName: logsArtifactName(core.getInput('logs-artifact'), process.env, core.getInput('matrix')), ...outcome.logs }
  await writeJobSummary(report.finish({ ...outcome, logs }))
  const problem = report.writeProblem()
  if (problem) core.warning(problem)
}

/** Main step: the `logs-dir` output, and the state the post step reads. */
export function recordLogsDir(dir: string): void {
  core.saveState(STATE_LOGS_DIR, dir)
  core.setOutput('logs-dir', dir)
}

/** Appends markdown to the job summary; a summary that cannot be written is a warning. */
export async function writeJobSummary(markdown: string): Promise<void> {
  try {
    await core.summary.addRaw(markdown).addEOL().write()
  } catch (error) {
    core.warning(`the job summary could not be written: ${message(error)}`)
  }
}

/**
 * Post step: uploads the logs directory the main step recorded. Never fails the job: every problem
 * (no token, service down, name taken) is a warning that says where the logs still are.
 * Inputs: `logs-artifact`, `logs-retention-days`, `matrix` (`${{ toJSON(matrix) }}`). Sets `logs-artifact-id`.
 */
export async function uploadLogsInPostStep(client?: UploadRequest['client']): Promise<void> {
  try {
    const dir = core.getState(STATE_LOGS_DIR)
    if (!dir) {
      core.debug('kk-action post: no logs directory was recorded; nothing to upload')
      return
    }
    if (!existsSync(dir)) {
      core.warning(`deployment logs were not uploaded: the logs directory ${dir} does not exist`)
      return
    }
    const name = logsArtifactName(core.getInput('logs-artifact'), process.env, core.getInput('matrix'))
    const outcome = await uploadLogs({ dir, name, retentionDays: retentionDays(), client })
    if (!outcome.uploaded) {
      core.warning(`deployment logs were not uploaded as artifact "${outcome.name}": ${outcome.reason}. They stay in ${dir} until the runner is cleaned up.`)
      return
    }
    core.setOutput('logs-artifact-id', String(outcome.id))
    const renamed = outcome.renamed ? ` (the name "${outcome.renamed}" was already taken in this run)` : ''
    core.info(`deployment logs: artifact "${outcome.name}", id ${outcome.id}, ${outcome.files} file(s), ${outcome.size} bytes${renamed}`)
    await writeJobSummary(`Deployment logs: artifact \`${outcome.name}\` (id ${outcome.id}).`)
  } catch (error) {
    core.warning(`deployment logs were not uploaded: ${message(error)}`)
  }
}

/** The `logs-retention-days` input; a bad value is a warning and the repository's default applies. */
function retentionDays(): number | undefined {
  const text = core.getInput('logs-retention-days')
  if (!text) return undefined
  const days = Number(text)
  if (Number.isInteger(days) && days >= 1) return days
  core.warning(`input logs-retention-days is "${text}": not a whole number of 1 or more; using the repository's default retention`)
  return undefined
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
