import type { Logger } from '../../src/log.js'

/** A Logger that keeps every line, by level, for assertions. */
export interface RecordingLogger extends Logger {
  lines: { level: 'info' | 'notice' | 'warning' | 'debug'; message: string }[]
  warnings(): string[]
  infos(): string[]
}

export function recordingLogger(): RecordingLogger {
  const lines: RecordingLogger['lines'] = []
  return {
    lines,
    info: (message) => void lines.push({ level: 'info', message }),
    notice: (message) => void lines.push({ level: 'notice', message }),
    warning: (message) => void lines.push({ level: 'warning', message }),
    debug: (message) => void lines.push({ level: 'debug', message }),
    warnings: () => lines.filter((line) => line.level === 'warning').map((line) => line.message),
    infos: () => lines.filter((line) => line.level === 'info').map((line) => line.message),
  }
}
