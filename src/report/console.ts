/**
 * Live output of a deploy in the CLI: plain lines, or on a terminal a per-host progress display of the
 * running module. (The action's output is in actions-console.ts.)
 */
import type { EventSink, PipelineEvent } from '../pipeline/events.js'
import { redactEvents } from './redact-events.js'
import type { Redactor } from './redact.js'
import { duration, hostList } from './format.js'

type Event<T extends PipelineEvent['type']> = Extract<PipelineEvent, { type: T }>

export function taskLine(event: Event<'task-end'>): string {
  const retry = event.attempt > 1 ? ` (attempt ${event.attempt})` : ''
  const error = event.error ? `: ${event.error.split('\n')[0]}` : ''
  return `  ${event.host}  ${event.task}  ${event.status}${retry}  ${duration(event.durationMs)}${error}`
}

export function moduleLine(event: Event<'module-end'>): string {
  return `${event.module}: ${event.status} in ${duration(event.durationMs)}, ${event.changed} changed`
}

/**
 * Events for a person at a terminal (`isTTY`: a live per-host display, redrawn in place) or for a log
 * file or pipe (plain lines). Writes to `stream` (stderr in the CLI: stdout stays for `--json`).
 */
export function cliConsoleSink(stream: NodeJS.WritableStream, isTTY: boolean, redactor?: Redactor): EventSink & { close(): void } {
  const sink = isTTY ? new LiveDisplay(stream) : new PlainLines(stream)
  const redacted = redactor ? redactEvents(redactor, sink) : sink
  return { emit: (event) => redacted.emit(event), close: () => sink.close() }
}

class PlainLines implements EventSink {
  constructor(private readonly stream: NodeJS.WritableStream) {}

  emit(event: PipelineEvent): void {
    const line = plainLine(event)
    if (line !== undefined) this.stream.write(`${line}\n`)
  }

  close(): void {}
}

function plainLine(event: PipelineEvent): string | undefined {
  switch (event.type) {
    case 'module-start':
      return `==> ${event.module} (${hostList(event.hosts)})`
    case 'module-skip':
      return `--- ${event.module}: skipped, ${event.reason}`
    case 'task-end':
      return taskLine(event)
    case 'log':
      return event.level === 'warning' ? `warning: ${event.host} (${event.module}): ${event.line}` : `  ${event.host}: ${event.line}`
    case 'module-end':
      return `<== ${moduleLine(event)}`
    default:
      return undefined
  }
}

interface HostRow {
  host: string
  task?: string
  taskStarted: number
  done: number
  changed: number
  failed?: string
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
const REDRAW_MS = 100

/** The running module's hosts, one line each (current task, elapsed time), redrawn in place. */
class LiveDisplay implements EventSink {
  private module?: string
  private moduleStarted = 0
  private rows = new Map<string, HostRow>()
  private drawnLines = 0
  private frame = 0
  private timer?: NodeJS.Timeout

  constructor(private readonly stream: NodeJS.WritableStream) {}

  emit(event: PipelineEvent): void {
    switch (event.type) {
      case 'module-start':
        return this.startModule(event)
      case 'task-start':
        return this.update(event.host, (row) => Object.assign(row, { task: event.task, taskStarted: Date.now() }))
      case 'task-end':
        return this.taskEnded(event)
      case 'module-end':
        return this.endModule(event)
      default: {
        const line = plainLine(event)
        if (line !== undefined) this.print(line)
      }
    }
  }

  /** Stops redrawing; a module still on screen stays there as it last was (the run ended inside it). */
  close(): void {
    this.stopTimer()
    if (this.module) this.redraw()
    this.drawnLines = 0
    this.module = undefined
  }

  private startModule(event: Event<'module-start'>): void {
    this.module = event.module
    this.moduleStarted = Date.now()
    this.rows = new Map(event.hosts.map((host) => [host, { host, taskStarted: Date.now(), done: 0, changed: 0 }]))
    this.print(`==> ${event.module}`)
    this.timer = setInterval(() => this.redraw(), REDRAW_MS)
    this.timer.unref()
  }

  private taskEnded(event: Event<'task-end'>): void {
    this.update(event.host, (row) => {
      row.task = undefined
      row.done++
      if (event.status === 'changed') row.changed++
      if (event.status === 'failed') row.failed = `${event.task}: ${(event.error ?? '').split('\n')[0]}`
      else row.failed = undefined
    })
  }

  private endModule(event: Event<'module-end'>): void {
    this.stopTimer()
    this.redraw()
    this.drawnLines = 0 // the final state of the module stays on screen
    this.module = undefined
    this.stream.write(`<== ${moduleLine(event)}\n`)
  }

  private update(host: string, change: (row: HostRow) => void): void {
    const row = this.rows.get(host)
    if (row) change(row)
  }

  /** A line above the display, which is then drawn again below it. */
  private print(line: string): void {
    this.clear()
    this.stream.write(`${line}\n`)
    if (this.module) this.redraw()
  }

  private redraw(): void {
    this.clear()
    this.frame = (this.frame + 1) % SPINNER.length
    const width = (this.stream as NodeJS.WriteStream).columns || 100
    const lines = [...this.rows.values()].map((row) => this.rowText(row).slice(0, width - 1))
    lines.push(`   ${this.module ?? ''} ${duration(Date.now() - this.moduleStarted)}`.slice(0, width - 1))
    this.stream.write(`${lines.join('\n')}\n`)
    this.drawnLines = lines.length
  }

  private rowText(row: HostRow): string {
    const counts = `${row.done} done, ${row.changed} changed`
    if (row.failed) return ` ✗ ${row.host}  failed: ${row.failed}`
    if (row.task) return ` ${SPINNER[this.frame]} ${row.host}  ${row.task} ${duration(Date.now() - row.taskStarted)}  (${counts})`
    return ` ✓ ${row.host}  ${counts}`
  }

  private clear(): void {
    if (!this.drawnLines) return
    // Up to the first line of the display, then erase to the end of the screen.
    this.stream.write(`\u001b[${this.drawnLines}F\u001b[0J`)
    this.drawnLines = 0
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }
}
