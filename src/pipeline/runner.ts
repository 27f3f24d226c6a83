import type { ClusterConfig, Host } from '../config/types.js'
import { artifactKey, type ArtifactName } from '../artifacts/types.js'
import { isUserError } from '../errors.js'
import type { Connection } from '../nodes/connection.js'
import { PIPELINES } from '../modules/index.js'
import type { ModuleDefinition } from '../modules/module.js'
import { buildPlanContext } from '../plan/build.js'
import type { ModuleId, Plan, PlannedModule } from '../plan/types.js'
import { CancelledError, CommandError, FinalError, PipelineError, type HostFailure } from './errors.js'
import type { EventInput, EventSink, TaskStatus } from './events.js'
import { settleWithLimit } from './limit.js'
import type { LocalArtifact, Task, TaskContext } from './types.js'

export interface RunOptions {
  plan: Plan
  config: ClusterConfig
  /** The connection of a host, opened once per run. */
  connect(host: Host): Promise<Connection>
  /** Verified artifacts on the runner, by artifactKey. */
  artifacts: ReadonlyMap<string, LocalArtifact>
  /** How many hosts a task runs on at once. */
  concurrency: number
  events: EventSink
  /** Aborted on SIGINT/SIGTERM: start nothing new, stop what runs. */
  signal?: AbortSignal
  /** Told of every value a task registers as secret (TaskContext.secret), e.g. the report's Redactor.add. */
  onSecret?: (value: string) => void
  /** Values modules find in `shared` from the start (e.g. SHARED_KUBECONFIG_DESTINATION). */
  shared?: ReadonlyMap<string, unknown>
  /** The module definitions; the pipeline's own by default (tests pass their own). */
  modules?: readonly ModuleDefinition[]
}

export interface PipelineResult {
  changed: number
  /** Bytes sent to nodes by uploads (0 on a rerun that found everything in place). */
  uploadedBytes: number
  /** What modules handed on (e.g. the kubeconfig path the kubeconfig module wrote). */
  shared: ReadonlyMap<string, unknown>
  modules: Array<{ id: ModuleId; status: 'ok' | 'skipped'; changed: number; durationMs: number }>
}

const LAST_LINES = 20

/** Runs the plan's modules in order; the plan alone decides what is skipped. */
export async function runPipeline(options: RunOptions): Promise<PipelineResult> {
  const { plan, config, events } = options
  let uploadedBytes = 0
  const emit = (event: EventInput) => {
    if (event.type === 'upload') uploadedBytes += event.bytes
    events.emit({ time: new Date().toISOString(), ...event } as never)
  }
  const definitions = new Map((options.modules ?? PIPELINES[plan.pipeline]).map((m) => [m.id, m]))
  const ctx = buildPlanContext(config, plan)
  const shared = new Map<string, unknown>(options.shared ?? [])
  const result: PipelineResult = { changed: 0, uploadedBytes: 0, shared, modules: [] }

  for (const planned of plan.modules) {
    if (options.signal?.aborted) throw new CancelledError(String(options.signal.reason ?? 'signal'))
    if (planned.skip) {
      emit({ type: 'module-skip', module: planned.id, reason: planned.reason ?? '' })
      result.modules.push({ id: planned.id, status: 'skipped', changed: 0, durationMs: 0 })
      continue
    }
    const definition = definitions.get(planned.id)!
    const started = Date.now()
    emit({ type: 'module-start', module: planned.id, hosts: planned.hosts })
    const run = new ModuleRun(planned, definition, options, shared, emit)
    try {
      await run.execute(definition.tasks!(ctx))
    } catch (error) {
      const status = error instanceof CancelledError ? 'cancelled' : 'failed'
      emit({ type: 'module-end', module: planned.id, status, durationMs: Date.now() - started, changed: run.changed })
      throw error
    }
    emit({ type: 'module-end', module: planned.id, status: 'ok', durationMs: Date.now() - started, changed: run.changed })
    result.modules.push({ id: planned.id, status: 'ok', changed: run.changed, durationMs: Date.now() - started })
    result.changed += run.changed
  }
  result.uploadedBytes = uploadedBytes
  return result
}

/** The modules of a plan that would run but have no tasks yet (refused before any node is touched). */
export function unimplementedModules(plan: Plan): ModuleId[] {
  const definitions = new Map(PIPELINES[plan.pipeline].map((m) => [m.id, m]))
  return plan.modules.filter((m) => !m.skip && !definitions.get(m.id)?.tasks).map((m) => m.id)
}

class ModuleRun {
  changed = 0
  private readonly hosts: Host[]

  constructor(
    private readonly planned: PlannedModule,
    private readonly definition: ModuleDefinition,
    private readonly options: RunOptions,
    private readonly shared: Map<string, unknown>,
    private readonly emit: (event: EventInput) => void,
  ) {
    const byName = new Map(options.config.hosts.map((h) => [h.name, h]))
    this.hosts = planned.hosts.map((name) => byName.get(name)!)
  }

  async execute(tasks: Task[]): Promise<void> {
    for (const task of tasks) {
      this.throwIfCancelled()
      const hosts = task.hosts ? task.hosts(this.hosts) : this.hosts
      const jobs = hosts.map((host) => () => this.runOnHost(task, host))
      const settled = await settleWithLimit(jobs, task.serial ? 1 : this.options.concurrency)
      this.throwIfCancelled()
      const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as HostFailure] : []))
      if (failures.length) throw new PipelineError(this.definition.id, failures)
    }
  }

  private throwIfCancelled(): void {
    const signal = this.options.signal
    if (signal?.aborted) throw new CancelledError(String(signal.reason ?? 'signal'))
  }

  /** One task on one host with retries; rejects with a HostFailure. */
  private async runOnHost(task: Task, host: Host): Promise<void> {
    const attempts = 1 + (task.retries ?? 0)
    let failure: HostFailure | undefined
    for (let attempt = 1; attempt <= attempts; attempt++) {
      this.throwIfCancelled()
      failure = await this.attempt(task, host, attempt)
      if (!failure) return
      if (failure.final) break
      if (attempt < attempts) await delay(task.retryDelayMs ?? 2000, this.options.signal)
    }
    throw failure
  }

  private async attempt(task: Task, host: Host, attempt: number): Promise<HostFailure | undefined> {
    const module = this.definition.id
    const started = Date.now()
    const lastLines: string[] = []
    let changed = false
    this.emit({ type: 'task-start', module, task: task.name, host: host.name, attempt })
    const end = (status: TaskStatus, error?: string) =>
      this.emit({ type: 'task-end', module, task: task.name, host: host.name, status, durationMs: Date.now() - started, attempt, ...(error ? { error } : {}) })
    try {
      const connection = await this.options.connect(host)
      const context = this.taskContext(task, host, connection, lastLines, () => { changed = true })
      await withTimeout(task.run(context), task.timeoutMs, `task "${task.name}" timed out after ${(task.timeoutMs ?? 0) / 1000}s`)
      if (changed) this.changed++
      end(changed ? 'changed' : 'unchanged')
      return undefined
    } catch (error) {
      const cancelled = this.options.signal?.aborted ?? false
      // A cancel closes the connections too: what a command then says (e.g. "connection lost") is not the news.
      const message = cancelled ? `cancelled (${String(this.options.signal?.reason ?? 'signal')}); its command on the host was stopped` : describe(error)
      end(cancelled ? 'cancelled' : 'failed', message)
      if (cancelled) throw new CancelledError(String(this.options.signal?.reason ?? 'signal'))
      const final = error instanceof FinalError ? { final: true } : {}
      return { host: host.name, task: task.name, message, lastLines: error instanceof CommandError ? error.lastLines : lastLines.slice(-LAST_LINES), ...final }
    }
  }

  private taskContext(task: Task, host: Host, connection: Connection, lastLines: string[], markChanged: () => void): TaskContext {
    const module = this.definition.id
    const remember = (line: string) => {
      lastLines.push(line)
      if (lastLines.length > LAST_LINES) lastLines.shift()
    }
    return {
      host,
      config: this.options.config,
      plan: this.options.plan,
      module,
      shared: this.shared,
      changed: markChanged,
      log: (line) => this.emit({ type: 'log', module, task: task.name, host: host.name, line }),
      warn: (line) => this.emit({ type: 'log', module, task: task.name, host: host.name, line, level: 'warning' }),
      exec: async (command, execOptions = {}) => {
        const started = Date.now()
        const result = await connection.exec(command, {
          sudo: true,
          signal: this.options.signal,
          ...execOptions,
          onLine: (stream, line) => {
            remember(line)
            this.emit({ type: 'output', module, task: task.name, host: host.name, stream, line })
            execOptions.onLine?.(stream, line)
          },
        })
        this.emit({ type: 'command', module, task: task.name, host: host.name, command: command.text, exitCode: result.code, durationMs: Date.now() - started })
        if (result.code !== 0 && !execOptions.allowFailure) {
          throw new CommandError(host.name, command.text, result.code, lastLines.slice(-LAST_LINES))
        }
        return result
      },
      upload: async (localPath, remotePath, uploadOptions) => {
        const started = Date.now()
        const transfer = await connection.upload(localPath, remotePath, { sudo: true, ...uploadOptions })
        this.emit({ type: 'upload', module, task: task.name, host: host.name, path: remotePath, bytes: transfer.bytes, changed: transfer.changed, durationMs: Date.now() - started })
        if (transfer.changed) markChanged()
        return transfer
      },
      download: async (remotePath, localPath) => {
        const transfer = await connection.download(remotePath, localPath, { sudo: true })
        this.emit({ type: 'log', module, task: task.name, host: host.name, line: `downloaded ${remotePath} (${transfer.bytes} bytes)` })
        return transfer
      },
      secret: (value) => this.options.onSecret?.(value),
      artifact: (name) => this.artifactFor(name, host),
    }
  }

  /** Only what the module declared, for this host's arch: the seed bug cannot come back through a side door. */
  private artifactFor(name: ArtifactName, host: Host): LocalArtifact {
    const need = this.planned.needs.find((n) => n.name === name && n.arch === host.arch)
    if (!need) {
      throw new Error(`module ${this.definition.id} asked for artifact ${name} (${host.arch}) that it does not declare in its needs`)
    }
    const local = this.options.artifacts.get(artifactKey(need))
    if (!local) throw new Error(`artifact ${name} ${need.version} ${need.arch} was planned but not resolved`)
    return local
  }
}

function describe(error: unknown): string {
  if (error instanceof CommandError || isUserError(error)) return error.message
  return error instanceof Error ? error.message : String(error)
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number | undefined, message: string): Promise<T> {
  if (!timeoutMs) return work
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), timeoutMs) })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
  })
}
