import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { node24, run } from '../support/bundle.js'
import { refusedUrl, resultsServiceEnv, startResultsService, type ResultsService } from '../support/results-service.js'
import { currentBundle } from './bundles.js'
import { readTree } from './tree.js'

let main: string
let post: string
let service: ResultsService

// Bundling takes a minute or two each on a busy 2-core machine when dist/ is stale.
beforeAll(async () => {
  ;[main, post] = await Promise.all([currentBundle('main'), currentBundle('post')])
}, 600_000)
beforeAll(async () => {
  service = await startResultsService()
})
afterAll(async () => {
  await service?.stop()
})

/** Values from the GITHUB_STATE / GITHUB_OUTPUT file format (name<<delimiter ... delimiter). */
function fileCommands(text: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const match of text.matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) found[match[1]] = match[3]
  return found
}

describe('the bundled main step, then the bundled post step, as GitHub runs them', () => {
  it('main fails (delete on a host that refuses connections); post uploads its logs directory; no secret in either', { timeout: 120_000 }, async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'kk-steps-'))
    const port = new URL(await refusedUrl()).port
    const nodePassword = 'Node-Password-From-Env-5521'
    const privateKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    writeFileSync(join(workspace, 'cluster.yaml'), `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata: {name: steps}
spec:
  hosts:
  - {name: node1, address: 127.0.0.1, port: ${port}, internalAddress: 127.0.0.1, user: root, password: "\${NODE_PW}"}
  roleGroups: {etcd: [node1], control-plane: [node1], worker: [node1]}
  kubernetes: {version: v1.30.14, containerManager: containerd}
`)
    const common = {
      PATH: process.env.PATH, GITHUB_WORKSPACE: workspace, RUNNER_TEMP: join(workspace, 'temp'), GITHUB_JOB: 'delete', RUNNER_NAME: 'r1', GITHUB_RUN_ATTEMPT: '1',
      'INPUT_CONFIG': join(workspace, 'cluster.yaml'), 'INPUT_COMMAND': 'delete', 'INPUT_HOST-KEY-POLICY': 'off', 'INPUT_SSH-PRIVATE-KEY': privateKey,
      'INPUT_CACHE': 'false', 'INPUT_CONCURRENCY': '10', 'INPUT_NODES': 'target', 'INPUT_LOGS-ARTIFACT': '', 'INPUT_MATRIX': 'null',
      ...resultsServiceEnv(service.url, { runId: 'run-5', jobId: 'job-5' }),
    }
    const files = (step: string) => Object.fromEntries(['GITHUB_STATE', 'GITHUB_OUTPUT', 'GITHUB_STEP_SUMMARY', 'GITHUB_ENV'].map((name) => {
      const path = join(workspace, `${step}-${name}`)
      writeFileSync(path, '')
      return [name, path]
    }))
    const env = (extra: Record<string, string | undefined>) =>
      Object.fromEntries(Object.entries({ ...common, ...extra }).filter((entry): entry is [string, string] => entry[1] !== undefined))

    const mainFiles = files('main')
    const mainRun = await run(node24(), [main], { cwd: workspace, env: env({ ...mainFiles, NODE_PW: nodePassword }), timeoutMs: 60_000 })
    expect(mainRun.status, mainRun.stdout + mainRun.stderr).toBe(1)
    expect(mainRun.stdout).toMatch(/^::error/m)
    const state = fileCommands(readFileSync(mainFiles.GITHUB_STATE, 'utf8'))
    const logs = state['logs-dir']
    expect(logs.startsWith(join(workspace, 'temp', 'kk-action-logs-'))).toBe(true)
    expect(fileCommands(readFileSync(mainFiles.GITHUB_OUTPUT, 'utf8'))['logs-dir']).toBe(logs)
    expect(readFileSync(mainFiles.GITHUB_STEP_SUMMARY, 'utf8')).toMatch(/## kk-action delete: /)

    const postFiles = files('post')
    const stateEnv = Object.fromEntries(Object.entries(state).map(([name, value]) => [`STATE_${name}`, value]))
    const postRun = await run(node24(), [post], { cwd: workspace, env: env({ ...postFiles, ...stateEnv }), timeoutMs: 60_000 })
    expect(postRun.status, postRun.stdout + postRun.stderr).toBe(0)
    const stored = service.artifacts.find((artifact) => artifact.finalized)!
    expect(stored.name).toBe('kk-action-logs-delete-r1-attempt1')
    expect(fileCommands(readFileSync(postFiles.GITHUB_OUTPUT, 'utf8'))['logs-artifact-id']).toBe(String(stored.id))

    writeFileSync(join(workspace, 'logs.zip'), service.blobContent(stored.blobName)!)
    execFileSync('unzip', ['-q', join(workspace, 'logs.zip'), '-d', join(workspace, 'unpacked')])
    const directory = await readTree(logs)
    const archive = await readTree(join(workspace, 'unpacked'))
    expect(archive).toEqual(directory)
    expect(Object.keys(directory)).toEqual(expect.arrayContaining(['plan.json', 'events.ndjson', 'summary.md']))

    const secrets = [nodePassword, ...privateKey.trim().split('\n').slice(1, -1)]
    const written = [...Object.values(directory), readFileSync(mainFiles.GITHUB_STEP_SUMMARY, 'utf8'), mainRun.stdout.replace(/^::add-mask::.*$/gm, ''), postRun.stdout]
    for (const text of written) for (const secret of secrets) expect(text).not.toContain(secret)
  })
})
