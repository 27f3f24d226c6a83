import { isMap, isPair, isScalar, isSeq, parse, Scalar, type Node } from 'yaml'
import type { FieldPath } from './field-path.js'

/** `${NAME}` references; `$${NAME}` is an escape for a literal `${NAME}`. */
const REFERENCE = /\$?\$\{([^}]*)\}/g
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

export type SubstitutionProblem =
  | { kind: 'unset'; variable: string; path: FieldPath; node: Node }
  | { kind: 'malformed'; reference: string; path: FieldPath; node: Node }

export interface SubstitutionResult {
  /** Values that came from the environment, to be masked. */
  secrets: string[]
  problems: SubstitutionProblem[]
}

/** Replaces `${VAR}` in every string value of the tree, in place. Keys are left alone. */
export function substituteEnv(root: Node | null | undefined, env: NodeJS.ProcessEnv): SubstitutionResult {
  const result: SubstitutionResult = { secrets: [], problems: [] }
  if (root) visit(root, [], env, result)
  return result
}

function visit(node: Node, path: FieldPath, env: NodeJS.ProcessEnv, result: SubstitutionResult): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (isPair(pair) && isScalar(pair.key) && isNode(pair.value)) visit(pair.value, [...path, String(pair.key.value)], env, result)
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      if (isNode(item)) visit(item, [...path, index], env, result)
    })
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    substituteScalar(node, path, env, result)
  }
}

function substituteScalar(node: Scalar, path: FieldPath, env: NodeJS.ProcessEnv, result: SubstitutionResult): void {
  const text = node.value as string
  const replaced = text.replace(REFERENCE, (reference: string, name: string) => {
    if (reference.startsWith('$$')) return reference.slice(1)
    if (!VARIABLE_NAME.test(name)) {
      result.problems.push({ kind: 'malformed', reference, path, node })
      return reference
    }
    const value = env[name]
    if (value === undefined) {
      result.problems.push({ kind: 'unset', variable: name, path, node })
      return reference
    }
    if (value !== '') result.secrets.push(value)
    return value
  })
  node.value = node.type === Scalar.PLAIN ? resolvePlainScalar(replaced) : replaced
}

/** An unquoted `port: ${SSH_PORT}` should become the number it would have been if written inline. */
function resolvePlainScalar(text: string): unknown {
  try {
    const value: unknown = parse(text)
    return value === null || ['string', 'number', 'boolean'].includes(typeof value) ? (value ?? text) : text
  } catch {
    return text
  }
}

function isNode(value: unknown): value is Node {
  return isMap(value) || isSeq(value) || isScalar(value)
}
