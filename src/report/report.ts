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

export interface DiagnoseOptions extends DiagnosticsOptions {
  /** Hosts diagnosed at once (default 4). */
  parallel?: number
  /** For opening a failing host's connection (default 30 s). */
  connectTimeoutMs?: number
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
  private problem?: string

  private constructor(readonly dir: string, private readonly plan: Plan | undefined, private readonly redactor: Redactor) {
    this.record = new RunRecord(plan)
    this.writer = new LogsWriter(dir, redactor)
    this.sink = redactEvents(redactor, {
      emit: (event) => {
        this.record.emit(event)
        this.guarded(() => this.writer.emit(event))
      },
    })
  }

  /** Why the logs directory stopped being written (a full disk...), if it did: worth a warning, never a failed deploy. */
  writeProblem(): string | undefined {
    return this.problem
  }

  /** File writes must not break the pipeline that emits the events: the first failure stops them. */
  private guarded(write: () => void): void {
    if (this.problem) return
    try {
      write()
    } catch (error) {
      this.problem = `the logs directory ${this.dir} could not be written: ${errorText(error)}`
    }
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
  async diagnose(connect: (host: string) => Promise<Connection>, options: DiagnoseOptions = {}): Promise<void> {
    const hosts = this.failingHosts()
    const parallel = Math.max(1, options.parallel ?? 4)
    for (let i = 0; i < hosts.length; i += parallel) {
      await Promise.all(hosts.slice(i, i + parallel).map((host) => this.diagnoseHost(host, connect, options)))
    }
  }

  private async diagnoseHost(host: string, connect: (host: string) => Promise<Connection>, options: DiagnoseOptions): Promise<void> {
    let connection: Connection
    try {
      connection = await withTimeout(connect(host), options.connectTimeoutMs ?? 30_000)
    } catch (error) {
      this.guarded(() => this.writer.writeHostFile(host, 'diagnostics.log', `# diagnostics of ${host}: no connection (${errorText(error)})\n`))
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
      try {
        this.writer.close()
      } catch {
        // Closing is best effort; what could not be written is already in writeProblem().
      }
    }
    try {
      this.writer.writeFile('summary.md', markdown)
    } catch (error) {
      this.problem ??= `summary.md could not be written in ${this.dir}: ${errorText(error)}`
    }
    return markdown
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no connection within ${(ms / 1000).toFixed(1)} s`)), ms)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
