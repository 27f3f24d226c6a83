import type { z } from 'zod'
import type { UserError } from '../errors.js'
import type { FieldPath } from './field-path.js'
import type { ConfigSource } from './source.js'

/** Zod issues split into unknown keys (notices: a possible typo) and real problems (errors). */
export interface SortedIssues {
  unknownKeys: FieldPath[]
  problems: z.core.$ZodIssue[]
}

export function sortIssues(issues: readonly z.core.$ZodIssue[]): SortedIssues {
  const unknownKeys: FieldPath[] = []
  const problems: z.core.$ZodIssue[] = []
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') unknownKeys.push(...issue.keys.map((key) => [...toFieldPath(issue.path), key]))
    else problems.push(issue)
  }
  return { unknownKeys, problems }
}

/** The problem that comes first in the file, as a UserError; the count of the others is appended. */
export function firstProblemAsError(problems: z.core.$ZodIssue[], input: unknown, source: ConfigSource): UserError {
  const ordered = [...problems].sort((a, b) => compareLines(source, a, b))
  const first = ordered[0]
  const path = toFieldPath(first.path)
  const more = ordered.length > 1 ? ` (and ${ordered.length - 1} more problem${ordered.length > 2 ? 's' : ''} after it)` : ''
  const { problem, hint } = describeIssue(first, valueAt(input, path))
  return source.error(path, problem + more, { hint })
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): { problem: string; hint?: string } {
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return { problem: 'is required' }
      return { problem: `expected ${article(issue.expected)}, got ${describeValue(value)}`, hint: typeHint(issue.expected, value) }
    case 'too_small':
      return { problem: tooSmall(issue) }
    case 'too_big':
      return { problem: issue.origin === 'number' ? `must be at most ${issue.maximum}, got ${describeValue(value)}` : issue.message }
    default:
      return { problem: issue.message }
  }
}

function tooSmall(issue: z.core.$ZodIssueTooSmall): string {
  if (issue.origin === 'string') return 'must not be empty'
  if (issue.origin === 'array') return issue.message
  return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}`
}

function typeHint(expected: string, value: unknown): string | undefined {
  if (expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
    return `Quote it so YAML keeps it as text: "${String(value)}"`
  }
  if ((expected === 'number' || expected === 'int') && typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) {
    return `Remove the quotes: ${value}`
  }
  return undefined
}

function article(expected: string): string {
  const names: Record<string, string> = {
    string: 'a string',
    number: 'a number',
    int: 'a whole number',
    boolean: 'true or false',
    array: 'a list',
    object: 'a mapping (key: value)',
    record: 'a mapping (key: value)',
  }
  return names[expected] ?? expected
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`
  return `${typeof value} ${String(value)}`
}

function compareLines(source: ConfigSource, a: z.core.$ZodIssue, b: z.core.$ZodIssue): number {
  const positionA = source.locate(toFieldPath(a.path))
  const positionB = source.locate(toFieldPath(b.path))
  return (positionA?.line ?? 0) - (positionB?.line ?? 0) || (positionA?.column ?? 0) - (positionB?.column ?? 0)
}

export function toFieldPath(path: readonly PropertyKey[]): FieldPath {
  return path.map((segment) => (typeof segment === 'number' ? segment : String(segment)))
}

export function valueAt(root: unknown, path: FieldPath): unknown {
  let value = root
  for (const segment of path) {
    if (typeof value !== 'object' || value === null) return undefined
    value = (value as Record<PropertyKey, unknown>)[segment]
  }
  return value
}
