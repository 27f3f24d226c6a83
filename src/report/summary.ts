import type { ResolvedArtifact } from '../artifacts/resolve.js'
import type { Plan } from '../plan/types.js'
import { duration, hostList } from './format.js'
import type { FailureRecord, ModuleOutcome, ModuleRecord, RunRecord } from './run-record.js'

/** One resolved artifact as the summary shows it. */
export interface ArtifactReport {
  name: string
  version: string
  arch: string
  /** Where it came from: tool-cache, actions-cache, offline-dir, mirror, upstream. */
  source: string
  bytes: number
  ms: number
}

export function artifactReports(resolved: readonly ResolvedArtifact[]): ArtifactReport[] {
  return resolved.map(({ artifact, source, bytes, ms }) => ({ name: artifact.name, version: artifact.version, arch: artifact.arch, source, bytes, ms }))
}

export interface LogsLocation {
  /** The logs artifact's name (uploaded by the post step). */
  artifactName?: string
  artifactId?: number
  /** The logs directory on the runner. */
  dir?: string
}

export interface SummaryInput {
  record: RunRecord
  plan?: Plan
  /** What stopped the run when it did not come from a module (a connection, a config problem). */
  error?: string
  artifacts?: readonly ArtifactReport[]
  logs?: LogsLocation
}

const STATUS_TEXT: Record<ModuleOutcome, string> = {
  ok: '✅ ok', failed: '❌ failed', cancelled: '⛔ cancelled', skipped: 'skipped', running: '⏳ did not finish', 'not-run': 'not run',
}

/** The job summary (and summary.md): what ran where, what was skipped and why, what failed. */
export function formatSummary(input: SummaryInput): string {
  return [
    ...headline(input),
    ...modulesTable(input.record.modules),
    ...skippedTable(input.record.modules),
    ...failuresSection(input.record.failuresList()),
    ...artifactsTable(input.artifacts ?? []),
    ...logsSection(input.logs),
  ].join('\n')
}

function headline({ record, plan, error }: SummaryInput): string[] {
  const stopped = record.stoppedAt()
  const outcome = stopped
    ? `${stopped.status} in module \`${stopped.id}\``
    : error ? 'failed' : record.modules.some((m) => m.status === 'not-run' || m.status === 'running') ? 'incomplete' : 'succeeded'
  const facts = [
    plan && `Kubernetes ${text(plan.kubernetesVersion)}`,
    plan && text(plan.containerManager),
    plan && `${plan.hosts.length} host(s)`,
    duration(Date.now() - record.startedAt),
    `${record.totalChanged()} changed`,
  ].filter(Boolean)
  const lines = [`## kk-action ${plan?.pipeline === 'delete' ? 'delete' : 'deploy'}: ${outcome}`, '', facts.join(' · '), '']
  if (error) lines.push(`> ${text(firstLine(error))}`, '')
  return lines
}

function modulesTable(modules: readonly ModuleRecord[]): string[] {
  const ran = modules.filter((m) => m.status !== 'skipped')
  if (!ran.length) return []
  return [
    '### Modules', '',
    '| module | status | hosts | duration | changed |',
    '|---|---|---|---|---|',
    ...ran.map((m) => `| ${m.id} | ${STATUS_TEXT[m.status]} | ${text(hostList(m.hosts, 10))} | ${m.durationMs ? duration(m.durationMs) : ''} | ${m.status === 'not-run' ? '' : m.changed} |`),
    '',
  ]
}

function skippedTable(modules: readonly ModuleRecord[]): string[] {
  const skipped = modules.filter((m) => m.status === 'skipped')
  if (!skipped.length) return []
  return ['### Skipped modules', '', '| module | reason |', '|---|---|', ...skipped.map((m) => `| ${m.id} | ${text(m.reason ?? '')} |`), '']
}

function failuresSection(failures: readonly FailureRecord[]): string[] {
  if (!failures.length) return []
  const lines = ['### Failing hosts', '']
  for (const failure of failures) {
    lines.push(`**${text(failure.host)}**: module \`${failure.module}\`, task "${text(failure.task)}": ${text(firstLine(failure.error))}`, '')
    if (failure.lastLines.length) lines.push(...codeBlock(failure.lastLines), '')
  }
  return lines
}

function artifactsTable(artifacts: readonly ArtifactReport[]): string[] {
  if (!artifacts.length) return []
  return [
    '### Artifacts', '',
    '| name | version | arch | source | size | time |',
    '|---|---|---|---|---|---|',
    ...artifacts.map((a) => `| ${text(a.name)} | ${text(a.version)} | ${text(a.arch)} | ${text(a.source)} | ${size(a.bytes)} | ${duration(a.ms)} |`),
    '',
  ]
}

function logsSection(logs: LogsLocation | undefined): string[] {
  if (!logs?.artifactName && !logs?.dir) return []
  const where = logs.artifactName
    ? `artifact \`${text(logs.artifactName)}\`${logs.artifactId ? ` (id ${logs.artifactId})` : ' (uploaded by the post step)'}`
    : `\`${text(logs.dir!)}\``
  return ['### Logs', '', `Per-host logs, events and diagnostics: ${where}.`, '']
}

/** A fenced block that the content cannot close (a line of backticks from a node stays inside). */
function codeBlock(lines: readonly string[]): string[] {
  const longest = Math.max(2, ...lines.map((line) => Math.max(0, ...(line.match(/`+/g) ?? []).map((run) => run.length))))
  const fence = '`'.repeat(longest + 1)
  return [`${fence}text`, ...lines, fence]
}

/** Table-cell and inline text: no pipe, HTML or line break from a node or a config can change the layout. */
function text(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|').replace(/`/g, '\\`')
}

function firstLine(value: string): string {
  return value.split('\n')[0]
}

function size(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
