/**
 * The report of one deploy: an EventSink for the pipeline that fills the logs directory, collects
 * diagnostics of the hosts that failed, and ends with summary.md (the job summary's text).
 *
 *   const report = DeploymentReport.open({ dir, plan, redactor })
 *   await runPipeline({ ..., events: fanOut(report, console) })   // in try/catch
 *   await report.diagnose(connect)                                // when it failed
 *   const markdown = report.finish({ error, artifacts, logs: { artifactName } })
 */
import { mkdirSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import type { Connection } from '../nodes/connection.js'
import type { EventSink, PipelineEvent } from '../pipeline/events.js'
import type { Plan } from '../plan/types.js'
import { collectDiagnostics, type DiagnosticsOptions } from './diagnostics.js'
import { LogsWriter } from './logs-dir.js'
import { redactEvents } from './redact-events.js'
import type { Redactor } from './redact.js'
import { RunRecord } from './run-record.js'
import { formatSummary, type ArtifactReport, type LogsLocation } from './summary.js'

export interface ReportOptions {
  /** The logs directory; created when missing. */
  dir: string
  plan?: Plan
  redactor: Redactor
}

export interface ReportOutcome {
  /** The error that ended the run, if any (a PipelineError's per-host detail is in the events already). */
  error?: unknown
  artifacts?: readonly ArtifactReport[]
  logs?: LogsLocation
}

/** A fresh logs directory under `base` (the action: $RUNNER_TEMP), e.g. `<base>/kk-action-logs-Xy12ab`. */
export function createLogsDir(base: string): string {
  mkdirSync(base, { recursive: true })
  return mkdtempSync(join(base, 'kk-action-logs-'))
}

export class DeploymentReport implements EventSink {
  readonly record: RunRecord
  private readonly writer: LogsWriter
  private readonly sink: EventSink
  private finished = false

  private constructor(readonly dir: string, private readonly plan: Plan | undefined, private readonly redactor: Redactor) {
    this.record = new RunRecord(plan)
    this.writer = new LogsWriter(dir, redactor)
    const record = this.record
    const writer = this.writer
    this.sink = redactEvents(redactor, { emit: (event) => { record.emit(event); writer.emit(event) } })
  }

  static open(options: ReportOptions): DeploymentReport {
    mkdirSync(options.dir, { recursive: true })
    const report = new DeploymentReport(options.dir, options.plan, options.redactor)
    if (options.plan) report.writer.writeFile('plan.json', `${JSON.stringify(options.plan, null, 2)}\n`)
    return report
  }

  emit(event: PipelineEvent): void {
    if (!this.finished) this.sink.emit(event)
  }

  failingHosts(): string[] {
    return this.record.failingHosts()
  }

  /**
   * Diagnostics of every failing host (a few at a time), into hosts/<host>/diagnostics.log. Never
   * throws: a host that cannot be reached gets a diagnostics.log that says so.
   */
  async diagnose(connect: (host: string) => Promise<Connection>, options: DiagnosticsOptions & { parallel?: number } = {}): Promise<void> {
    const hosts = this.failingHosts()
    const parallel = Math.max(1, options.parallel ?? 4)
    for (let i = 0; i < hosts.length; i += parallel) {
      await Promise.all(hosts.slice(i, i + parallel).map((host) => this.diagnoseHost(host, connect, options)))
    }
  }

  private async diagnoseHost(host: string, connect: (host: string) => Promise<Connection>, options: DiagnosticsOptions): Promise<void> {
    let connection: Connection
    try {
      connection = await connect(host)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      this.writer.writeHostFile(host, 'diagnostics.log', `# diagnostics of ${host}: no connection (${message})\n`)
      return
    }
    await collectDiagnostics(connection, host, this.dir, this.redactor, options)
  }

  /** Writes summary.md, closes the files and returns the summary's markdown. Later events are ignored. */
  finish(outcome: ReportOutcome = {}): string {
    const markdown = this.redactor.redact(formatSummary({
      record: this.record,
      plan: this.plan,
      error: outcome.error === undefined ? undefined : errorText(outcome.error),
      artifacts: outcome.artifacts,
      logs: outcome.logs,
    }))
    if (!this.finished) {
      this.finished = true
      this.writer.close()
    }
    this.writer.writeFile('summary.md', markdown)
    return markdown
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
