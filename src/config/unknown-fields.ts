import type { z } from 'zod'
import { formatPath, type FieldPath } from './field-path.js'
import type { ConfigSource } from './source.js'

/** A notice for a field KubeKey does not have, with the closest known name when it looks like a typo. */
export function unknownFieldNotice(path: FieldPath, schema: z.ZodType, source: ConfigSource): string {
  const key = String(path[path.length - 1])
  const position = source.index.locateKey(path)
  const where = position ? `${source.file}:${position.line}:${position.column}` : source.file
  const suggestion = closest(key, knownKeysAt(schema, path.slice(0, -1)))
  const didYouMean = suggestion ? ` — did you mean ${suggestion}?` : ' (possible typo)'
  return `${where}: ${formatPath(path)}: unknown field, ignored${didYouMean}`
}

/** Deletes the given keys from the parsed document, so validation can go on without them. */
export function removeFields(root: unknown, paths: FieldPath[]): void {
  for (const path of paths) {
    let parent: unknown = root
    for (const segment of path.slice(0, -1)) parent = (parent as Record<PropertyKey, unknown> | undefined)?.[segment]
    if (typeof parent === 'object' && parent !== null) delete (parent as Record<string, unknown>)[String(path[path.length - 1])]
  }
}

interface SchemaDefinition {
  type: string
  innerType?: z.ZodType
  shape?: Record<string, z.ZodType>
  element?: z.ZodType
  valueType?: z.ZodType
}

/** The field names the schema allows at `path` (an object inside the document). */
function knownKeysAt(schema: z.ZodType, path: FieldPath): string[] {
  let current: z.ZodType | undefined = schema
  for (const segment of path) {
    current = unwrapOptional(current)
    const definition = current && definitionOf(current)
    if (!definition) return []
    if (definition.type === 'object') current = definition.shape?.[String(segment)]
    else if (definition.type === 'array') current = definition.element
    else if (definition.type === 'record') current = definition.valueType
    else return []
  }
  const definition = definitionOf(unwrapOptional(current))
  return definition?.type === 'object' ? Object.keys(definition.shape ?? {}) : []
}

function unwrapOptional(schema: z.ZodType | undefined): z.ZodType | undefined {
  let current = schema
  while (current && definitionOf(current)?.type === 'optional') current = definitionOf(current)?.innerType
  return current
}

function definitionOf(schema: z.ZodType | undefined): SchemaDefinition | undefined {
  return (schema as unknown as { _zod?: { def: SchemaDefinition } } | undefined)?._zod?.def
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined
  for (const candidate of candidates) {
    const distance = candidate.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, candidate)
    if (distance <= 2 && (!best || distance < best.distance)) best = { candidate, distance }
  }
  return best?.candidate
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]
}
