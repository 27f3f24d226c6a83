import type { EventSink } from '../pipeline/events.js'
import type { LineRedactor, Redactor } from './redact.js'

/**
 * Redacts the pipeline's events before `sink` sees them: command lines, errors, log lines and output.
 * Output is redacted per host, task and stream, so a private key printed over many lines is masked
 * on all of them even when other hosts' lines arrive in between.
 */
export function redactEvents(redactor: Redactor, sink: EventSink): EventSink {
  const streams = new Map<string, LineRedactor>()
  const streamKey = (event: { module: string; task: string; host: string }, stream: string) =>
    `${event.module}\u0000${event.task}\u0000${event.host}\u0000${stream}`
  return {
    emit(event) {
      switch (event.type) {
        case 'output': {
          const key = streamKey(event, event.stream)
          let lines = streams.get(key)
          if (!lines) streams.set(key, (lines = redactor.lines()))
          return sink.emit({ ...event, line: lines.redact(event.line) })
        }
        case 'command':
          streams.delete(streamKey(event, 'stdout'))
          streams.delete(streamKey(event, 'stderr'))
          return sink.emit({ ...event, command: redactor.redact(event.command) })
        case 'log':
          return sink.emit({ ...event, line: redactor.redact(event.line) })
        case 'task-end':
          return sink.emit(event.error === undefined ? event : { ...event, error: redactor.redact(event.error) })
        case 'module-skip':
          return sink.emit({ ...event, reason: redactor.redact(event.reason) })
        default:
          return sink.emit(event)
      }
    },
  } satisfies EventSink
}
