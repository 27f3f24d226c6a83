import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { logsArtifactName, uploadLogs } from '../../src/report/upload.js'
import { compressLongTimers } from '../support/fast-timers.js'
import { readTree } from './tree.js'
import { applyEnv, refusedUrl, resultsServiceEnv, startResultsService, type ResultsService } from '../support/results-service.js'

let service: ResultsService
let scratch: string
let logs: string
let restoreEnv: () => void

beforeAll(async () => {
  service = await startResultsService()
})
afterAll(async () => {
  await service.stop()
})
beforeEach(async () => {
  service.reset()
  scratch = await mkdtemp(join(tmpdir(), 'kk-upload-'))
  logs = join(scratch, 'logs')
  await writeTree(logs, {
    'plan.json': '{"pipeline":"create"}\n',
    'events.ndjson': '{"type":"module-start"}\n',
    'summary.md': '## kk-action deploy: succeeded\n',
    'hosts/node1/containerd.log': 'started\n',
    'hosts/__.._escape-efbf103b/diagnostics.log': 'journal\n',
  })
  restoreEnv = applyEnv({ ...resultsServiceEnv(service.url, { runId: 'run-9', jobId: 'job-3' }), GITHUB_WORKSPACE: scratch })
})
afterEach(async () => {
  restoreEnv()
  await rm(scratch, { recursive: true, force: true })
})

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(root, name, '..'), { recursive: true })
    await writeFile(join(root, name), content)
  }
}

async function unpacked(blobName: string): Promise<Record<string, string>> {
  const zip = join(scratch, 'arrived.zip')
  await writeFile(zip, service.blobContent(blobName)!)
  const dir = join(scratch, 'unpacked')
  execFileSync('unzip', ['-q', '-o', zip, '-d', dir])
  return readTree(dir)
}

describe('uploadLogs with the real @actions/artifact', () => {
  it('uploads the whole logs directory; the archive unpacks to the same files', async () => {
    const outcome = await uploadLogs({ dir: logs, name: 'kk-logs', retentionDays: 3 })
    expect(outcome).toMatchObject({ uploaded: true, name: 'kk-logs', files: 5 })
    const stored = service.artifacts.find((artifact) => artifact.name === 'kk-logs')
    expect(stored).toMatchObject({ finalized: true, runId: 'run-9', jobId: 'job-3' })
    expect(outcome.uploaded && outcome.id).toBe(stored!.id)
    expect(await unpacked(stored!.blobName)).toEqual(await readTree(logs))
  })

  it('takes a suffixed name when the name is already taken in this run (the action used twice in a job)', async () => {
    const restore = applyEnv({ GITHUB_ACTION: '__org_kk-action_2' })
    try {
      expect(await uploadLogs({ dir: logs, name: 'kk-logs' })).toMatchObject({ uploaded: true })
      expect(await uploadLogs({ dir: logs, name: 'kk-logs' })).toMatchObject({ uploaded: true, name: 'kk-logs-__org_kk-action_2', renamed: 'kk-logs' })
    } finally {
      restore()
    }
  })

  it('reports, never throws: no token, a refused connection, HTTP 500 after the retries, an empty directory', async () => {
    let restore = applyEnv({ ACTIONS_RUNTIME_TOKEN: undefined })
    expect(await uploadLogs({ dir: logs, name: 'a' })).toMatchObject({ uploaded: false, reason: expect.stringMatching(/ACTIONS_RUNTIME_TOKEN/) })
    restore()

    restore = applyEnv({ ACTIONS_RESULTS_URL: await refusedUrl() })
    expect(await uploadLogs({ dir: logs, name: 'b' })).toMatchObject({ uploaded: false, reason: expect.stringMatching(/ECONNREFUSED|connect/i) })
    restore()

    service.fault('CreateArtifact', { kind: 'status', status: 500 })
    const restoreTimers = compressLongTimers() // the library's own retries, 3 s apart and growing, in milliseconds
    try {
      const started = Date.now()
      expect(await uploadLogs({ dir: logs, name: 'c' })).toMatchObject({ uploaded: false, reason: expect.stringMatching(/500/) })
      expect(Date.now() - started).toBeLessThan(5_000)
    } finally {
      restoreTimers()
    }
    expect(service.requests.filter((request) => request.target === 'CreateArtifact').length).toBe(5)
    service.clearFaults()

    const empty = join(scratch, 'empty')
    await mkdir(empty)
    expect(await uploadLogs({ dir: empty, name: 'd' })).toMatchObject({ uploaded: false, reason: expect.stringMatching(/empty or missing/) })
    expect(service.artifacts).toEqual([])
  })
})

describe('logsArtifactName', () => {
  const env = { GITHUB_JOB: 'deploy', RUNNER_NAME: 'GitHub Actions 7', GITHUB_RUN_ATTEMPT: '2' }

  it('uses the input when given, else one name per job, matrix entry, runner and attempt', () => {
    expect(logsArtifactName('my-logs', env, '{"k8s":"v1.30"}')).toBe('my-logs')
    const a = logsArtifactName('', env, '{\n  "k8s": "v1.30"\n}')
    const b = logsArtifactName('', env, '{\n  "k8s": "v1.31"\n}')
    expect(a).toMatch(/^kk-action-logs-deploy-[0-9a-f]{8}-GitHub_Actions_7-attempt2$/)
    expect(a).not.toBe(b)
    expect(logsArtifactName('', env, 'null')).toBe('kk-action-logs-deploy-GitHub_Actions_7-attempt2')
    expect(logsArtifactName(undefined, { GITHUB_JOB: 'a/b:c' })).toBe('kk-action-logs-a_b_c-attempt1')
  })
})
