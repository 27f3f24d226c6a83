import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { finishActionReport, recordLogsDir, startActionReport } from '../../src/report/actions.js'
import { Redactor } from '../../src/report/redact.js'
import { node24, run } from '../support/bundle.js'
import { applyEnv, refusedUrl, resultsServiceEnv, startResultsService, type ResultsService } from '../support/results-service.js'
import { currentBundle } from './bundles.js'
import { failingRun, samplePlan, SECRETS } from './synthetic.js'
import { readTree } from './tree.js'

let POST: string
/** Preloaded into a child: every setTimeout of 1 s or more fires 100 times sooner (the library's retry sleeps). */
const SHORT_SLEEPS = `data:text/javascript,${encodeURIComponent(
  'const t = globalThis.setTimeout; globalThis.setTimeout = Object.assign((f, d, ...a) => t(f, typeof d === "number" && d >= 1000 ? Math.ceil(d / 100) : d, ...a), t)')}`
let service: ResultsService

// Bundling takes a minute or two on a busy 2-core machine when dist/post is stale.
beforeAll(async () => {
  POST = await currentBundle('post')
}, 300_000)
beforeAll(async () => {
  service = await startResultsService()
})
afterAll(async () => {
  await service.stop()
})

/** What the main step leaves: a logs directory, recorded in the GITHUB_STATE file by recordLogsDir. */
async function mainStepState(workspace: string): Promise<{ logs: string; state: Record<string, string> }> {
  const logs = join(workspace, 'runner-temp', 'kk-action-logs-abc')
  for (const [name, content] of Object.entries({ 'events.ndjson': '{"type":"module-start"}\n', 'hosts/node1/etcd.log': 'x\n', 'summary.md': '# s\n' })) {
    await mkdir(join(logs, name, '..'), { recursive: true })
    await writeFile(join(logs, name), content)
  }
  const stateFile = join(workspace, 'main-state')
  const outputFile = join(workspace, 'main-output')
  writeFileSync(stateFile, '')
  writeFileSync(outputFile, '')
  const restore = applyEnv({ GITHUB_STATE: stateFile, GITHUB_OUTPUT: outputFile })
  try {
    recordLogsDir(logs)
  } finally {
    restore()
  }
  expect(fileCommands(readFileSync(outputFile, 'utf8'))).toEqual({ 'logs-dir': logs })
  return { logs, state: fileCommands(readFileSync(stateFile, 'utf8')) }
}

/** Values from the GITHUB_STATE / GITHUB_OUTPUT file format (name<<delimiter ... delimiter). */
function fileCommands(text: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const match of text.matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) found[match[1]] = match[3]
  return found
}

/** Runs the bundled post step as the runner does: STATE_* from the main step, INPUT_*, the GITHUB_* files. */
async function runPostStep(state: Record<string, string>, inputs: Record<string, string>, env: Record<string, string | undefined>, nodeArgs: string[] = []) {
  const workspace = mkdtempSync(join(tmpdir(), 'kk-post-'))
  const files = { GITHUB_OUTPUT: join(workspace, 'output'), GITHUB_STEP_SUMMARY: join(workspace, 'summary') }
  for (const path of Object.values(files)) writeFileSync(path, '')
  const stateEnv = Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v]))
  const inputEnv = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]))
  const childEnv = Object.fromEntries(Object.entries({
    PATH: process.env.PATH, GITHUB_WORKSPACE: workspace, RUNNER_TEMP: workspace, GITHUB_JOB: 'deploy', RUNNER_NAME: 'runner 1', GITHUB_RUN_ATTEMPT: '1',
    ...files, ...stateEnv, ...inputEnv, ...env,
  }).filter((entry): entry is [string, string] => entry[1] !== undefined))
  const started = Date.now()
  const result = await run(node24(), [...nodeArgs, POST], { cwd: workspace, env: childEnv, timeoutMs: 30_000 })
  return {
    result, ms: Date.now() - started,
    outputs: fileCommands(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
    summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
  }
}

describe('main step (in process) then the bundled post step', () => {
  it('records the logs dir, masks discovered secrets, writes the job summary; the post step uploads the same files', async () => {
    service.reset()
    const workspace = mkdtempSync(join(tmpdir(), 'kk-main-'))
    const files = { GITHUB_STATE: 'state', GITHUB_OUTPUT: 'output', GITHUB_STEP_SUMMARY: 'summary' }
    const paths = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, join(workspace, f)]))
    for (const path of Object.values(paths)) writeFileSync(path, '')
    const restore = applyEnv({ ...paths, RUNNER_TEMP: join(workspace, 'temp'), GITHUB_JOB: 'deploy', RUNNER_NAME: 'r', 'INPUT_LOGS-ARTIFACT': '' })
    const stdout: string[] = []
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { stdout.push(String(chunk)); return true })
    let logs: string
    try {
      const { report, events } = startActionReport(samplePlan(['node1', 'node2']), new Redactor([SECRETS.password]))
      for (const event of failingRun(['node1', 'node2'])) events.emit(event)
      await finishActionReport(report, { error: new Error('module containerd failed on 1 host(s)') })
      logs = report.dir
    } finally {
      spy.mockRestore()
      restore()
    }
    const printed = stdout.join('')
    expect(printed).toContain(`::add-mask::${SECRETS.password}\n`)
    expect(printed).toContain(`::add-mask::${SECRETS.joinToken}\n`) // found in node output, then masked by the runner too
    expect(printed.replace(/^::add-mask::.*$/gm, '')).not.toContain(SECRETS.joinToken)
    expect(printed).toContain('::group::containerd (node1, node2)')
    expect(logs.startsWith(join(workspace, 'temp', 'kk-action-logs-'))).toBe(true)
    expect(fileCommands(readFileSync(paths.GITHUB_OUTPUT, 'utf8'))).toEqual({ 'logs-dir': logs })
    const summary = readFileSync(paths.GITHUB_STEP_SUMMARY, 'utf8')
    expect(summary).toContain('## kk-action deploy: failed in module `containerd`')
    expect(summary).toContain('artifact `kk-action-logs-deploy-r-attempt1` (uploaded by the post step)')

    const state = fileCommands(readFileSync(paths.GITHUB_STATE, 'utf8'))
    const post = await runPostStep(state, {}, resultsServiceEnv(service.url))
    expect(post.result.status, post.result.stdout).toBe(0)
    const stored = service.artifacts.find((artifact) => artifact.finalized)!
    expect(stored.name).toBe('kk-action-logs-deploy-runner_1-attempt1') // the post step's own runner name (see runPostStep)
    const zip = join(workspace, 'arrived.zip')
    writeFileSync(zip, service.blobContent(stored.blobName)!)
    execFileSync('unzip', ['-q', zip, '-d', join(workspace, 'unpacked')])
    expect(await readTree(join(workspace, 'unpacked'))).toEqual(await readTree(logs))
  })
})

describe('the bundled post step, run as GitHub runs it', () => {
  it('uploads the logs directory the main step recorded; the archive holds exactly its files; sets logs-artifact-id', async () => {
    service.reset()
    const workspace = mkdtempSync(join(tmpdir(), 'kk-main-'))
    const { logs, state } = await mainStepState(workspace)
    const matrix = '{\n  "k8s": "v1.30.14",\n  "cri": "containerd"\n}'
    const { result, outputs, summary } = await runPostStep(state, { 'logs-artifact': '', 'logs-retention-days': '5', matrix }, resultsServiceEnv(service.url, { runId: 'r1', jobId: 'j1' }))
    expect(result.status, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).not.toMatch(/^::(warning|error)/m)
    const stored = service.artifacts.find((artifact) => artifact.finalized)!
    expect(stored.name).toMatch(/^kk-action-logs-deploy-[0-9a-f]{8}-runner_1-attempt1$/)
    expect(outputs['logs-artifact-id']).toBe(String(stored.id))
    expect(summary).toContain(`artifact \`${stored.name}\` (id ${stored.id})`)

    const zip = join(workspace, 'arrived.zip')
    writeFileSync(zip, service.blobContent(stored.blobName)!)
    execFileSync('unzip', ['-q', zip, '-d', join(workspace, 'unpacked')])
    expect(await readTree(join(workspace, 'unpacked'))).toEqual(await readTree(logs))
  })

  it('leaves the job green with a warning when the upload cannot happen: no token, refused, service errors', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'kk-main-'))
    const { state } = await mainStepState(workspace)
    const env = resultsServiceEnv(service.url)
    const cases: Array<[string, Record<string, string | undefined>]> = [
      ['no token', { ...env, ACTIONS_RUNTIME_TOKEN: undefined }],
      ['refused', { ...env, ACTIONS_RESULTS_URL: await refusedUrl() }],
      ['HTTP 500', env],
    ]
    for (const [label, caseEnv] of cases) {
      service.reset()
      if (label === 'HTTP 500') service.fault('CreateArtifact', { kind: 'status', status: 500 })
      // The library sleeps 3 s, then ~5, ~8, ~11 s between its 5 attempts: shortened 100x in the child.
      const { result, outputs, ms } = await runPostStep(state, { 'logs-artifact': 'kk-logs' }, caseEnv, label === 'HTTP 500' ? ['--import', SHORT_SLEEPS] : [])
      expect(result.status, `${label}: ${result.stdout}${result.stderr}`).toBe(0)
      expect(result.stdout, label).toMatch(/^::warning::deployment logs were not uploaded as artifact "kk-logs": .+ They stay in .*kk-action-logs-abc/m)
      expect(outputs['logs-artifact-id'], label).toBeUndefined()
      if (label === 'HTTP 500') expect(service.requests.filter((r) => r.target === 'CreateArtifact').map((r) => r.status)).toEqual([500, 500, 500, 500, 500])
      expect(ms, label).toBeLessThan(15_000)
    }
  })

  it('does nothing, quietly, when the main step recorded no logs directory (command: plan)', async () => {
    const { result, outputs } = await runPostStep({}, {}, resultsServiceEnv(service.url))
    expect(result.status).toBe(0)
    expect(result.stdout).not.toMatch(/::warning/)
    expect(outputs).toEqual({})
  })
})
