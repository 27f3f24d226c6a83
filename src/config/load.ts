import { readFileSync } from 'node:fs'
import { UserError } from '../errors.js'
import type { ClusterConfig, LoadResult, Overrides } from './types.js'
import { clusterDocumentSchema, type RawClusterDocument } from './schema.js'
import { documentData, isRecord, selectClusterDocument } from './documents.js'
import { substituteEnv, type SubstitutionProblem } from './env.js'
import { PositionIndex } from './position-index.js'
import { ConfigSource } from './source.js'
import { firstProblemAsError, sortIssues } from './issues.js'
import { removeFields, unknownFieldNotice } from './unknown-fields.js'
import { normalizeSpec } from './normalize.js'
import { checkCluster, controlPlaneEndpointNotices } from './checks.js'
import { checkKubeletArgs } from './checks-kubelet.js'
import { checkNetworkAndAddons } from './checks-network.js'
import { applyOverrides } from './overrides.js'
import { findUnusedFields } from './unused.js'
import { formatPath } from './field-path.js'

export interface LoadOptions {
  overrides?: Overrides
  /** Where `${VAR}` values come from; process.env by default. */
  env?: NodeJS.ProcessEnv
  /** The file's content, when the caller already has it (the file is then not read). */
  text?: string
}

const DEFAULT_CLUSTER_NAME = 'cluster'

/** Reads a KubeKey v1alpha2 Cluster config; throws UserError naming file:line:column and field for bad input. */
export function loadConfig(file: string, options: LoadOptions = {}): LoadResult {
  return parseConfig(options.text ?? readConfigFile(file), file, options)
}

export function parseConfig(text: string, file: string, options: LoadOptions = {}): LoadResult {
  const { document, lineCounter, notices } = selectClusterDocument(text, file)
  const substitution = substituteEnv(document.contents, options.env ?? process.env)
  const source = new ConfigSource(file, new PositionIndex(document.contents, lineCounter))
  if (substitution.problems.length > 0) throw substitutionError(substitution.problems[0], source)

  const parsed = validateDocument(dropNulls(documentData(document, lineCounter, file)), source, notices)
  const config = normalizeSpec(parsed.spec, parsed.metadata?.name || DEFAULT_CLUSTER_NAME, source)
  checkCluster(config, source)
  notices.push(...applyOverrides(config, options.overrides ?? {}))
  // After the overrides: a version or plugin given as an input decides these as much as the file does.
  checkNetworkAndAddons(config, source)
  checkKubeletArgs(config, source)
  notices.push(...controlPlaneEndpointNotices(config), ...containerManagerNotices(config))
  config.unusedFields = findUnusedFields(config.spec)
  if (config.unusedFields.length > 0) notices.push(unusedFieldsNotice(config))

  return {
    config,
    notices,
    secrets: collectSecrets(config, substitution.secrets),
    locate: (field) => source.locateField(field),
  }
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const problem = code === 'ENOENT' ? 'config file not found' : `cannot read the config file (${code ?? String(error)})`
    throw new UserError(problem, { file }, 'Pass the path of a KubeKey cluster config (kk create config writes one)')
  }
}

/** Schema validation; unknown keys become notices and are dropped, anything else is an error. */
function validateDocument(input: unknown, source: ConfigSource, notices: string[]): RawClusterDocument {
  let result = clusterDocumentSchema.safeParse(input)
  if (result.success) return result.data
  const { unknownKeys, problems } = sortIssues(result.error.issues)
  if (problems.length > 0) throw firstProblemAsError(problems, input, source)
  notices.push(...unknownKeys.map((path) => unknownFieldNotice(path, clusterDocumentSchema, source)))
  removeFields(input, unknownKeys)
  result = clusterDocumentSchema.safeParse(input)
  if (!result.success) throw firstProblemAsError(result.error.issues, input, source)
  return result.data
}

function substitutionError(problem: SubstitutionProblem, source: ConfigSource): UserError {
  const field = formatPath(problem.path)
  if (problem.kind === 'unset') {
    return source.error(problem.path, `environment variable ${problem.variable} is not set`, {
      hint: `${field} uses \${${problem.variable}}: set it in the workflow's env (e.g. from a secret) or write the value`,
    })
  }
  return source.error(problem.path, `"${problem.reference}" is not a valid variable reference`, {
    hint: 'Write ${NAME} with letters, digits and _ (or $${...} for a literal ${...})',
  })
}

/** YAML `key:` with no value means "not set", as in KubeKey. */
function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls)
  if (!isRecord(value)) return value
  return Object.fromEntries(Object.entries(value).flatMap(([key, child]) => (child === null ? [] : [[key, dropNulls(child)]])))
}

function containerManagerNotices(config: ClusterConfig): string[] {
  if (!config.kubernetes.containerManagerDefaulted) return []
  const { version } = config.kubernetes
  const criDockerd = isAtLeastV124(version)
    ? `with Kubernetes ${version} (>= v1.24, no dockershim) that also means cri-dockerd`
    : `with Kubernetes ${version} (< v1.24) kubelet talks to docker through dockershim`
  return [
    `${config.file}: spec.kubernetes.containerManager is not set, so KubeKey's default docker applies; ${criDockerd}. Set containerManager: containerd to use containerd`,
  ]
}

export function isAtLeastV124(version: string): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number)
  return major > 1 || (major === 1 && minor >= 24)
}

function unusedFieldsNotice(config: ClusterConfig): string {
  return `${config.file}: kept but not acted on by kk-action yet: ${config.unusedFields.join(', ')}`
}

function collectSecrets(config: ClusterConfig, substituted: string[]): string[] {
  const credentials = config.hosts.flatMap((host) => [host.password, host.privateKey, host.bastion?.password, host.bastion?.privateKey])
  const registryPasswords = Object.values(config.registry.auths).map((auth) => auth.password)
  const all = [...substituted, ...credentials, ...registryPasswords].filter((value): value is string => typeof value === 'string' && value !== '')
  return [...new Set(all)]
}

