/**
 * The bundled main step (command: deploy) against real SSH test nodes, then the bundled post step, as
 * GitHub runs them (INPUT_*, GITHUB_STATE → STATE_*, the local results service standing in for GitHub's).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { node24, repoRoot, run } from '../support/bundle.js'
import { resultsServiceEnv, startResultsService, type ResultsService } from '../support/results-service.js'
import { readTree } from '../report/tree.js'

const skip = await testNodesSkipReason()

function fileCommands(text: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const match of text.matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) found[match[1]] = match[3]
  return found
}

describe.skipIf(skip)('action command: deploy on test nodes, then the post step', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  let server: MirrorServer
  let service: ResultsService
  const envSecret = 'Env-Secret-Token-7731'

  beforeAll(async () => {
    ;[nodes, mirror, service] = await Promise.all([startTestNodes({ count: 2, prefix: 'kkact' }), buildMirror(), startResultsService()])
    server = await serveMirror(mirror.root)
  }, 300_000)
  afterAll(async () => {
    await server?.close()
    await service?.stop()
    await nodes?.stop()
  })

  /** Runs main, then post with main's state; returns both runs, main's files and the unpacked upload. */
  async function mainThenPost(name: string) {
    const workspace = mkdtempSync(join(tmpdir(), `kk-act-${name}-`))
    const versions = Object.entries(mirror.componentVersions).map(([k, v]) => `    ${k}: "${v}"`).join('\n')
    writeFileSync(join(workspace, 'cluster.yaml'), `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata: {name: ${name}}
spec:
  hosts:
${nodes.nodes.map((n) => `  - {name: ${n.name}, address: ${n.address}, internalAddress: ${n.address}, user: ${nodes.users.sudopw}, password: "\${NODE_PW}"}`).join('\n')}
  roleGroups: {etcd: [${nodes.nodes[0].name}], control-plane: [${nodes.nodes[0].name}], worker: [${nodes.nodes.map((n) => n.name).join(', ')}]}
  kubernetes: {version: v1.30.1, containerManager: containerd, proxyMode: iptables}
  network: {plugin: none}
  registry:
    auths: {"registry.example.test": {username: ci, password: "\${REGISTRY_TOKEN}"}}
  componentVersions:
${versions}
`)
    const common: Record<string, string> = {
      PATH: process.env.PATH ?? '', GITHUB_WORKSPACE: workspace, RUNNER_TEMP: join(workspace, 'temp'), GITHUB_JOB: name,
      RUNNER_NAME: 'runner-1', GITHUB_RUN_ATTEMPT: '1',
      INPUT_CONFIG: join(workspace, 'cluster.yaml'), INPUT_COMMAND: 'deploy', INPUT_NODES: 'target',
      'INPUT_SSH-PRIVATE-KEY': nodes.privateKey, 'INPUT_KNOWN-HOSTS': readFileSync(nodes.knownHostsPath, 'utf8'),
      'INPUT_HOST-KEY-POLICY': 'strict', INPUT_MIRROR: server.url, INPUT_CHECKSUMS: mirror.checksumsFile,
      INPUT_CACHE: 'false', INPUT_CONCURRENCY: '10', INPUT_MATRIX: 'null',
      ...resultsServiceEnv(service.url, { runId: `run-${name}`, jobId: `job-${name}` }),
    }
    const files = (step: string) => Object.fromEntries(['GITHUB_STATE', 'GITHUB_OUTPUT', 'GITHUB_STEP_SUMMARY', 'GITHUB_ENV'].map((file) => {
      const path = join(workspace, `${step}-${file}`)
      writeFileSync(path, '')
      return [file, path]
    }))
    const mainFiles = files('main')
    const main = run(node24(), [join(repoRoot, 'dist/main/index.js')], {
      cwd: workspace, env: { ...common, ...mainFiles, NODE_PW: nodes.password, REGISTRY_TOKEN: envSecret }, timeoutMs: 600_000,
    })
    const state = () => fileCommands(readFileSync(mainFiles.GITHUB_STATE, 'utf8'))
    const mainRun = await main
    const stateEnv = Object.fromEntries(Object.entries(state()).map(([key, value]) => [`STATE_${key}`, value]))
    const postFiles = files('post')
    const postRun = await run(node24(), [join(repoRoot, 'dist/post/index.js')], { cwd: workspace, env: { ...common, ...postFiles, ...stateEnv }, timeoutMs: 120_000 })
    const stored = service.artifacts.find((artifact) => artifact.finalized && artifact.name.includes(name))
    const unpacked = join(workspace, 'unpacked')
    if (stored) {
      writeFileSync(join(workspace, 'logs.zip'), service.blobContent(stored.blobName)!)
      execFileSync('unzip', ['-q', join(workspace, 'logs.zip'), '-d', unpacked])
    }
    return { mainRun, postRun, mainFiles, logs: state()['logs-dir'], unpacked, stored }
  }

  it('a deploy that fails on one host: the step fails naming it, the post step uploads events, host logs and its diagnostics; no secret anywhere', { timeout: 600_000 }, async () => {
    const failing = nodes.nodes[1].name
    await nodes.exec(failing, ['systemd-run', '--unit', 'kk-squatter', 'socat', 'TCP-LISTEN:10250,fork,reuseaddr', '/dev/null'])
    try {
      const { mainRun, postRun, mainFiles, logs, unpacked, stored } = await mainThenPost('fails')
      expect(mainRun.status, mainRun.stdout.slice(-3000)).toBe(1)
      expect(mainRun.stdout).toMatch(new RegExp(`^::error title=kk-action%3A precheck failed on ${failing}::.*10250 by socat`, 'm'))
      expect(postRun.status, postRun.stdout).toBe(0)
      expect(stored).toBeDefined()
      const archive = await readTree(unpacked)
      expect(archive).toEqual(await readTree(logs))
      expect(archive['events.ndjson']).toContain('"status":"failed"')
      expect(archive[`hosts/${failing}/precheck.log`]).toContain('10250 by socat')
      expect(archive[`hosts/${failing}/diagnostics.log`]).toBeDefined()

      const secrets = [nodes.password, envSecret, ...nodes.privateKey.trim().split('\n').slice(1, -1)]
      const written = [...Object.values(archive), readFileSync(mainFiles.GITHUB_STEP_SUMMARY, 'utf8'),
        readFileSync(mainFiles.GITHUB_OUTPUT, 'utf8'), mainRun.stdout.replace(/^::add-mask::.*$/gm, ''), mainRun.stderr, postRun.stdout]
      for (const text of written) for (const secret of secrets) expect(text).not.toContain(secret)
    } finally {
      await nodes.exec(failing, ['systemctl', 'stop', 'kk-squatter'])
    }
  })
})
