import type { EventSink, PipelineEvent } from '../pipeline/events.js'
import type { ModuleId, Plan } from '../plan/types.js'

export type ModuleOutcome = 'ok' | 'failed' | 'cancelled' | 'skipped' | 'running' | 'not-run'

export interface ModuleRecord {
  id: ModuleId
  status: ModuleOutcome
  /** Why it was skipped. */
  reason?: string
  hosts: string[]
  durationMs: number
  /** Tasks that changed a host. */
  changed: number
}

export interface FailureRecord {
  host: string
  module: ModuleId
  task: string
  error: string
  lastLines: string[]
}

const LAST_LINES = 20

/**
 * What happened, folded from the event stream: the state the job summary and the console read.
 * Modules of the plan that never started stay `not-run`, so a failed deploy still lists them.
 */
export class RunRecord implements EventSink {
  readonly modules: ModuleRecord[] = []
  readonly startedAt = Date.now()
  private readonly failures = new Map<string, FailureRecord>()
  private readonly recentOutput = new Map<string, string[]>()

  constructor(plan?: Plan) {
    for (const planned of plan?.modules ?? []) {
      this.modules.push({
        id: planned.id,
        status: planned.skip ? 'skipped' : 'not-run',
        reason: planned.reason,
        hosts: planned.hosts,
        durationMs: 0,
        changed: 0,
      })
    }
  }

  emit(event: PipelineEvent): void {
    switch (event.type) {
      case 'module-start':
        Object.assign(this.module(event.module), { status: 'running', hosts: event.hosts })
        return
      case 'module-skip':
        Object.assign(this.module(event.module), { status: 'skipped', reason: event.reason })
        return
      case 'module-end':
        Object.assign(this.module(event.module), { status: event.status, durationMs: event.durationMs, changed: event.changed })
        return
      case 'task-start':
        this.recentOutput.set(taskKey(event), [])
        return
      case 'output':
        this.remember(taskKey(event), event.line)
        return
      case 'task-end':
        this.taskEnded(event)
        return
      default:
    }
  }

  /** The hosts whose last attempt of some task failed, in the order they failed. */
  failingHosts(): string[] {
    return [...new Set([...this.failures.values()].map((failure) => failure.host))]
  }

  failuresList(): FailureRecord[] {
    return [...this.failures.values()]
  }

  /** The module that failed or was cancelled, if any. */
  stoppedAt(): ModuleRecord | undefined {
    return this.modules.find((module) => module.status === 'failed' || module.status === 'cancelled')
  }

  totalChanged(): number {
    return this.modules.reduce((sum, module) => sum + module.changed, 0)
  }

  private taskEnded(event: Extract<PipelineEvent, { type: 'task-end' }>): void {
    const key = taskKey(event)
    if (event.status === 'failed') {
      this.failures.set(key, {
        host: event.host, module: event.module, task: event.task, error: event.error ?? 'failed', lastLines: this.recentOutput.get(key) ?? [],
      })
    } else if (event.status !== 'cancelled') {
      this.failures.delete(key) // a retry succeeded
    }
  }

  private remember(key: string, line: string): void {
    const lines = this.recentOutput.get(key) ?? []
    lines.push(line)
    if (lines.length > LAST_LINES) lines.shift()
    this.recentOutput.set(key, lines)
  }

  private module(id: ModuleId): ModuleRecord {
    let record = this.modules.find((module) => module.id === id)
    if (!record) {
      record = { id, status: 'not-run', hosts: [], durationMs: 0, changed: 0 }
      this.modules.push(record)
    }
    return record
  }
}

function taskKey(event: { module: string; task: string; host: string }): string {
  return `${event.module}\u0000${event.task}\u0000${event.host}`
}
