import { UserError } from '../errors.js'
import { formatPath, parseFieldPath, type FieldPath } from './field-path.js'
import type { Position, PositionIndex } from './position-index.js'

const TOP_LEVEL_KEYS = new Set(['apiVersion', 'kind', 'metadata', 'spec'])

/** A config file being loaded: turns a field path into a UserError that names file:line:column and the field. */
export class ConfigSource {
  constructor(
    readonly file: string,
    readonly index: PositionIndex,
  ) {}

  /** An error about a field's value (or, with `at: 'key'`, about the key itself). */
  error(path: FieldPath, problem: string, details: { hint?: string; host?: string; at?: 'key' | 'value' } = {}): UserError {
    const position = details.at === 'key' ? this.index.locateKey(path) : this.index.locate(path)
    return errorAt(this.file, position, formatPath(path), problem, { ...details, host: details.host ?? this.hostOf(path) })
  }

  /** For a path under `spec.hosts[i]`, the name of that host. */
  hostOf(path: FieldPath): string | undefined {
    if (path[0] !== 'spec' || path[1] !== 'hosts' || typeof path[2] !== 'number') return undefined
    const name = this.index.scalarAt(['spec', 'hosts', path[2], 'name'])
    return typeof name === 'string' && name !== '' ? name : undefined
  }

  locate(path: FieldPath): Position | undefined {
    return this.index.locate(path)
  }

  /** `spec.hosts[1].name`, or the same without `spec.` (plan errors say `kubernetes.containerManager`). */
  locateField(field: string): Position | undefined {
    const path = parseFieldPath(field)
    if (!path) return undefined
    return this.index.locate(TOP_LEVEL_KEYS.has(String(path[0])) ? path : ['spec', ...path])
  }
}

export function errorAt(
  file: string,
  position: Position | undefined,
  field: string | undefined,
  problem: string,
  details: { hint?: string; host?: string } = {},
): UserError {
  return new UserError(problem, { file, line: position?.line, column: position?.column, field, host: details.host }, details.hint)
}
