/**
 * The logs directory: `plan.json`, `events.ndjson`, `hosts/<host>/<module>.log`, `summary.md`,
 * `hosts/<host>/diagnostics.log`. Written synchronously as events arrive, so whatever happened is on disk
 * when the main step dies (cancelled, killed) and the post step uploads it.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { EventSink, PipelineEvent } from '../pipeline/events.js'
import type { Redactor } from './redact.js'
import { safeFileName } from './safe-name.js'

type Event<T extends PipelineEvent['type']> = Extract<PipelineEvent, { type: T }>

/** A command's output waits for its `command` event (which comes when it ends), up to this many lines. */
const MAX_PENDING_LINES = 1000

export class LogsWriter implements EventSink {
  private readonly events: number
  private readonly hostFiles = new Map<string, number>()
  private readonly pending = new Map<string, string[]>()
  /** Host files written in this run: truncated on first open (a reused `--logs` dir), appended after. */
  private readonly opened = new Set<string>()

  constructor(readonly dir: string, private readonly redactor: Redactor) {
    mkdirSync(join(dir, 'hosts'), { recursive: true })
    this.events = openSync(join(dir, 'events.ndjson'), 'w', 0o600)
  }

  /** The directory of a host's files (created). */
  hostDir(host: string): string {
    const dir = join(this.dir, 'hosts', safeFileName(host))
    mkdirSync(dir, { recursive: true })
    return dir
  }

  /** Writes a file of the logs directory (path relative to it), redacted. */
  writeFile(relativePath: string, content: string): void {
    writeFileSync(join(this.dir, relativePath), this.redactor.redact(content), { mode: 0o600 })
  }

  /** Writes a file in a host's directory, redacted. */
  writeHostFile(host: string, name: string, content: string): void {
    writeFileSync(join(this.hostDir(host), safeFileName(name)), this.redactor.redact(content), { mode: 0o600 })
  }

  emit(event: PipelineEvent): void {
    if (event.type !== 'output') this.writeEvent(event)
    switch (event.type) {
      case 'task-start':
        return this.hostLine(event, `task "${event.task}" started (attempt ${event.attempt})`)
      case 'output':
        return this.pendOutput(event)
      case 'command':
        return this.writeCommand(event)
      case 'log':
        return this.hostLine(event, `${event.level === 'warning' ? 'warning' : 'note'}: ${event.line}`)
      case 'task-end':
        return this.taskEnded(event)
      case 'module-end':
        return this.closeModule(event.module)
      default:
    }
  }

  /** Flushes what is pending and closes every file. */
  close(): void {
    for (const key of [...this.pending.keys()]) this.flushUnfinished(key)
    for (const fd of this.hostFiles.values()) closeSync(fd)
    this.hostFiles.clear()
    closeSync(this.events)
  }

  private writeEvent(event: Exclude<PipelineEvent, Event<'output'>>): void {
    writeSync(this.events, `${this.redactor.redactLine(JSON.stringify(eventRecord(event)))}\n`)
  }

  private pendOutput(event: Event<'output'>): void {
    const key = pendingKey(event)
    const lines = this.pending.get(key) ?? []
    lines.push(`  ${event.stream === 'stderr' ? 'err' : 'out'}| ${event.line}`)
    this.pending.set(key, lines)
    if (lines.length >= MAX_PENDING_LINES) {
      this.writeHost(event, [`${event.time} (output of a running command, continued below)`, ...lines])
      this.pending.set(key, [])
    }
  }

  private writeCommand(event: Event<'command'>): void {
    const key = pendingKey(event)
    const output = this.pending.get(key) ?? []
    this.pending.delete(key)
    const started = new Date(Date.parse(event.time) - event.durationMs).toISOString()
    this.writeHost(event, [
      `${started} $ ${event.command}`,
      ...output,
      `${event.time} exit ${event.exitCode} after ${seconds(event.durationMs)}`,
    ])
  }

  private taskEnded(event: Event<'task-end'>): void {
    this.flushUnfinished(pendingKey(event))
    const error = event.error ? `: ${event.error.replace(/\n/g, '\n    ')}` : ''
    this.hostLine(event, `task "${event.task}" ${event.status} after ${seconds(event.durationMs)}${error}`)
  }

  /** Output of a command that never reported its end (it timed out or was cancelled). */
  private flushUnfinished(key: string): void {
    const lines = this.pending.get(key)
    this.pending.delete(key)
    if (!lines?.length) return
    const [module, task, host] = key.split('\u0000')
    this.writeHost({ module, host }, [`(output of a command in task "${task}" that did not finish)`, ...lines])
  }

  private hostLine(event: { time: string; module: string; host: string }, text: string): void {
    this.writeHost(event, [`${event.time} ${text}`])
  }

  private writeHost(event: { module: string; host: string }, lines: string[]): void {
    const text = this.redactor.redact(lines.join('\n'))
    writeSync(this.hostFile(event.host, event.module), `${text}\n`)
  }

  private hostFile(host: string, module: string): number {
    const key = `${module}\u0000${host}`
    let fd = this.hostFiles.get(key)
    if (fd === undefined) {
      const path = join(this.hostDir(host), `${safeFileName(module)}.log`)
      fd = openSync(path, this.opened.has(path) ? 'a' : 'w', 0o600)
      this.opened.add(path)
      this.hostFiles.set(key, fd)
    }
    return fd
  }

  private closeModule(module: string): void {
    for (const key of [...this.pending.keys()]) if (key.startsWith(`${module}\u0000`)) this.flushUnfinished(key)
    for (const [key, fd] of this.hostFiles) {
      if (!key.startsWith(`${module}\u0000`)) continue
      closeSync(fd)
      this.hostFiles.delete(key)
    }
  }
}

function pendingKey(event: { module: string; task: string; host: string }): string {
  return `${event.module}\u0000${event.task}\u0000${event.host}`
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`
}

/**
 * One line of events.ndjson: the same fields in the same order for every type (absent ones left out).
 * `changed` is a boolean on task-end, the number of changed tasks on module-end.
 */
export function eventRecord(event: Exclude<PipelineEvent, Event<'output'>>): Record<string, unknown> {
  const e = event as Partial<Record<string, unknown>> & PipelineEvent
  const changed = event.type === 'task-end' ? event.status === 'changed' : event.type === 'module-end' ? event.changed : undefined
  const record: Record<string, unknown> = {
    time: e.time,
    type: e.type,
    module: e.module,
    task: e.task,
    host: e.host,
    hosts: e.hosts,
    status: e.status,
    changed,
    durationMs: e.durationMs,
    exitCode: e.exitCode,
    attempt: e.attempt,
    command: e.command,
    reason: e.reason,
    level: e.level,
    message: event.type === 'log' ? event.line : undefined,
    error: e.error,
  }
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined))
}
