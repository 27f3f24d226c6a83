/**
 * Live output of a deploy in the action: one collapsible group per module, one line per host per task,
 * failures and warnings as annotations that name host and module.
 */
import * as core from '@actions/core'
import type { EventSink } from '../pipeline/events.js'
import { moduleLine, taskLine } from './console.js'
import { hostList } from './format.js'
import { redactEvents } from './redact-events.js'
import type { Redactor } from './redact.js'
import { RunRecord } from './run-record.js'

/** Lines of output quoted in a failure annotation. */
const ANNOTATION_LINES = 10

/** Events as GitHub Actions log lines, groups and annotations. Pass the run's Redactor (the runner's masking knows only registered values). */
export function actionsConsoleSink(redactor?: Redactor): EventSink {
  const record = new RunRecord()
  const sink: EventSink = {
    emit(event) {
      record.emit(event)
      switch (event.type) {
        case 'module-start':
          return core.startGroup(`${event.module} (${hostList(event.hosts)})`)
        case 'module-skip':
          return core.info(inert(`${event.module}: skipped, ${event.reason}`))
        case 'task-end':
          return core.info(inert(taskLine(event)))
        case 'log':
          if (event.level === 'warning') return core.warning(event.line, { title: `kk-action: ${event.module} on ${event.host}` })
          return core.info(inert(`${event.host}: ${event.line}`))
        case 'module-end':
          core.info(moduleLine(event))
          core.endGroup()
          if (event.status === 'failed') annotateFailures(record, event.module)
          return
        default:
      }
    },
  }
  return redactor ? redactEvents(redactor, sink) : sink
}

/** After the group closes, so the annotations are not folded away: one per failing host of the module. */
function annotateFailures(record: RunRecord, module: string): void {
  for (const failure of record.failuresList().filter((f) => f.module === module)) {
    const tail = failure.lastLines.slice(-ANNOTATION_LINES)
    const message = [`task "${failure.task}": ${failure.error}`, ...(tail.length ? ['', ...tail] : [])].join('\n')
    core.error(message, { title: `kk-action: ${module} failed on ${failure.host}` })
  }
}


/** Text from nodes and configs must not become a workflow command (`::add-mask::`, `::stop-commands::`). */
function inert(line: string): string {
  return line.replace(/^(\s*)::/gm, '$1: :')
}
