import type { ModuleId } from '../plan/types.js'
import type { OutputStream } from '../nodes/connection.js'

export type TaskStatus = 'changed' | 'unchanged' | 'failed' | 'cancelled'
export type ModuleStatus = 'ok' | 'failed' | 'cancelled'

/** What the pipeline reports as it goes; the report stage turns these into logs and summaries. */
export type PipelineEvent = { time: string } & (
  | { type: 'module-start'; module: ModuleId; hosts: string[] }
  | { type: 'module-skip'; module: ModuleId; reason: string }
  | { type: 'module-end'; module: ModuleId; status: ModuleStatus; durationMs: number; changed: number }
  | { type: 'task-start'; module: ModuleId; task: string; host: string; attempt: number }
  | { type: 'task-end'; module: ModuleId; task: string; host: string; status: TaskStatus; durationMs: number; attempt: number; error?: string }
  | { type: 'command'; module: ModuleId; task: string; host: string; command: string; exitCode: number; durationMs: number }
  | { type: 'upload'; module: ModuleId; task: string; host: string; path: string; bytes: number; changed: boolean; durationMs: number }
  | { type: 'output'; module: ModuleId; task: string; host: string; stream: OutputStream; line: string }
  | { type: 'log'; module: ModuleId; task: string; host: string; line: string; level?: 'warning' }
)

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
export type EventInput = DistributiveOmit<PipelineEvent, 'time'>

export interface EventSink {
  emit(event: PipelineEvent): void
}

export function fanOut(...sinks: EventSink[]): EventSink {
  return { emit: (event) => sinks.forEach((sink) => sink.emit(event)) }
}
