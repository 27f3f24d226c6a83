import { expect } from 'vitest'
import { isUserError, type UserError } from '../../src/errors.js'
import { parseConfig, type LoadOptions } from '../../src/config/index.js'
import type { LoadResult } from '../../src/config/types.js'

export const FILE = 'cluster.yaml'

/** The four header lines every test config starts with; a spec body line N is file line N + 5. */
const HEADER = ['apiVersion: kubekey.kubesphere.io/v1alpha2', 'kind: Cluster', 'metadata:', '  name: test', 'spec:']
export const SPEC_FIRST_LINE = HEADER.length + 1

/** A Cluster document whose spec is the given lines (already indented by two spaces). */
export function clusterYaml(...specLines: string[]): string {
  return [...HEADER, ...specLines].join('\n') + '\n'
}

/** One all-in-one host with every role, then the given extra spec lines. */
export function singleNode(...extraSpecLines: string[]): string {
  return clusterYaml(
    '  hosts:',
    '  - {name: node1, address: 10.0.0.1}',
    '  roleGroups:',
    '    etcd: [node1]',
    '    control-plane: [node1]',
    '    worker: [node1]',
    ...extraSpecLines,
  )
}

export function load(text: string, options: LoadOptions = {}): LoadResult {
  return parseConfig(text, FILE, { env: {}, ...options })
}

export function loadError(text: string, options: LoadOptions = {}): UserError {
  try {
    load(text, options)
  } catch (error) {
    if (isUserError(error)) return error
    throw error
  }
  throw new Error('expected the config to be rejected, but it loaded')
}

interface ExpectedRejection {
  line: number
  column: number
  field?: string
  host?: string
  /** Parts of the problem text. */
  says: (string | RegExp)[]
}

/** The message is one line: `cluster.yaml:L:C: [host H: ]field: problem`, with no stack frames. */
export function expectRejected(text: string, expected: ExpectedRejection, options: LoadOptions = {}): UserError {
  const error = loadError(text, options)
  const prefix = [`${FILE}:${expected.line}:${expected.column}`, expected.host && `host ${expected.host}`, expected.field].filter(Boolean).join(': ')
  expect(error.message.startsWith(`${prefix}: `), `message "${error.message}" should start with "${prefix}: "`).toBe(true)
  expect(error.location).toMatchObject({ file: FILE, line: expected.line, column: expected.column, field: expected.field, host: expected.host })
  for (const part of expected.says) expect(error.message).toMatch(part)
  expectNoStack(error.message)
  return error
}

export function expectNoStack(message: string): void {
  expect(message).not.toMatch(/\n\s*at /)
  expect(message).not.toMatch(/\bat .*\.(ts|js):\d+/)
  expect(message).not.toContain('\n')
}
