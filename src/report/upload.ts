/**
 * Uploads the logs directory as a workflow artifact. Losing the logs must never fail the job: every
 * failure comes back as a value with a reason, never as an exception.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { DefaultArtifactClient, type ArtifactClient } from '@actions/artifact'

export interface UploadRequest {
  dir: string
  name: string
  retentionDays?: number
  /** The artifact client; the real one by default. */
  client?: Pick<ArtifactClient, 'uploadArtifact'>
  env?: NodeJS.ProcessEnv
}

export type UploadOutcome =
  | { uploaded: true; name: string; id: number; size: number; files: number; renamed?: string }
  | { uploaded: false; name: string; reason: string }

/**
 * The default artifact name: one per job, matrix entry, runner and attempt, since a name can be
 * uploaded only once per workflow run. `matrix` is `toJSON(matrix)` ('null' outside a matrix).
 */
export function logsArtifactName(input: string | undefined, env: NodeJS.ProcessEnv = process.env, matrix?: string): string {
  if (input?.trim()) return input.trim()
  const parts = ['kk-action-logs', env.GITHUB_JOB || 'job']
  if (matrix && !['', 'null', '{}'].includes(matrix.trim())) parts.push(createHash('sha256').update(matrix).digest('hex').slice(0, 8))
  if (env.RUNNER_NAME) parts.push(env.RUNNER_NAME)
  parts.push(`attempt${env.GITHUB_RUN_ATTEMPT || '1'}`)
  return parts.map(nameSafe).join('-')
}

/** Artifact names may not hold `" : < > | * ? \ /` or line breaks; spaces make them awkward to type. */
function nameSafe(part: string): string {
  return part.replace(/[^A-Za-z0-9._-]+/g, '_')
}

export async function uploadLogs(request: UploadRequest): Promise<UploadOutcome> {
  const files = listFiles(request.dir)
  if (!files.length) return { uploaded: false, name: request.name, reason: `the logs directory ${request.dir} is empty or missing` }
  const client = request.client ?? new DefaultArtifactClient()
  const names = candidateNames(request.name, request.env ?? process.env)
  let reason = ''
  for (const name of names) {
    try {
      const response = await client.uploadArtifact(name, files, request.dir, { retentionDays: request.retentionDays })
      if (!response.id) return { uploaded: false, name, reason: 'the artifact service returned no artifact id' }
      return { uploaded: true, name, id: response.id, size: response.size ?? 0, files: files.length, ...(name !== request.name ? { renamed: request.name } : {}) }
    } catch (error) {
      reason = error instanceof Error ? error.message.split('\n')[0] : String(error)
      if (!isNameConflict(reason)) return { uploaded: false, name, reason }
    }
  }
  return { uploaded: false, name: request.name, reason }
}

/** The name, then (when it is taken in this run, e.g. the action used twice in one job) suffixed ones. */
function candidateNames(name: string, env: NodeJS.ProcessEnv): string[] {
  const step = env.GITHUB_ACTION ? `${name}-${nameSafe(env.GITHUB_ACTION)}` : undefined
  return [name, ...(step ? [step] : []), `${name}-${randomBytes(3).toString('hex')}`]
}

function isNameConflict(message: string): boolean {
  return /\(409\)|already exists/i.test(message)
}

function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name))
      .sort()
  } catch {
    return []
  }
}
