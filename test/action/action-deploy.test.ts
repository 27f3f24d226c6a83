/**
 * The bundled main step (command: deploy) against real SSH test nodes, then the bundled post step, as
 * GitHub runs them (INPUT_*, GITHUB_STATE → STATE_*, the local results service standing in for GitHub's).
 */
import { execFileSync, spawn } from 'node:child_process'
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

  /** A workspace with the cluster config, the step environment and fresh GITHUB_* files per step. */
  function prepare(name: string) {
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
    const mainEnv = { ...common, ...mainFiles, NODE_PW: nodes.password, REGISTRY_TOKEN: envSecret }
    const state = () => fileCommands(readFileSync(mainFiles.GITHUB_STATE, 'utf8'))
    return { workspace, common, files, mainFiles, mainEnv, state }
  }

  /** The bundled post step with the main step's state (GITHUB_STATE → STATE_*), and its upload unpacked. */
  async function post(name: string, { workspace, common, files, state }: ReturnType<typeof prepare>) {
    const stateEnv = Object.fromEntries(Object.entries(state()).map(([key, value]) => [`STATE_${key}`, value]))
    const postRun = await run(node24(), [join(repoRoot, 'dist/post/index.js')], { cwd: workspace, env: { ...common, ...files('post'), ...stateEnv }, timeoutMs: 120_000 })
    const stored = service.artifacts.find((artifact) => artifact.finalized && artifact.name.includes(name))
    const unpacked = join(workspace, 'unpacked')
    if (stored) {
      writeFileSync(join(workspace, 'logs.zip'), service.blobContent(stored.blobName)!)
      execFileSync('unzip', ['-q', join(workspace, 'logs.zip'), '-d', unpacked])
    }
    return { postRun, unpacked, stored, logs: state()['logs-dir'] }
  }

  /** Runs main, then post with main's state; returns both runs, main's files and the unpacked upload. */
  async function mainThenPost(name: string) {
    const step = prepare(name)
    const mainRun = await run(node24(), [join(repoRoot, 'dist/main/index.js')], { cwd: step.workspace, env: step.mainEnv, timeoutMs: 600_000 })
    return { mainRun, mainFiles: step.mainFiles, ...(await post(name, step)) }
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

  /** Every temp name the transfers (src/nodes/transfer.ts, ssh.ts) and install steps (src/modules/steps.ts) use on a node. */
  async function tempFilesOn(node: string): Promise<string> {
    const names = ['.kk-upload.*', '.kk-unpack.*', '.kk-bundle-*', '*.kk-tmp', 'installed-*.tmp'].flatMap((pattern, i) => [...(i ? ['-o'] : []), '-name', pattern])
    const found = await nodes.exec(node, ['find', '/usr/local', '/opt', '/etc', '/var/lib/kk-action', '-xdev', '(', ...names, ')', '-print'])
    return found.stdout
  }

  it('a cancelled run (SIGINT to the main step during an upload): it stops promptly with one message, leaves no temp file on the nodes, and the post step uploads the logs of the work done', { timeout: 600_000 }, async () => {
    const step = prepare('cancelled')
    // A slow link (2 MB/s towards the nodes), so the 21 MB CNI archive is still on its way when the signal comes.
    for (const node of nodes.nodes) execFileSync('tc', ['qdisc', 'add', 'dev', node.hostInterface, 'root', 'tbf', 'rate', '16mbit', 'burst', '64kb', 'latency', '400ms'])
    // Spawned here (not through run()) to have its pid: the runner signals the step's node process the same way.
    const child = spawn(node24(), [join(repoRoot, 'dist/main/index.js')], { cwd: step.workspace, env: step.mainEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
    // Under way: sync-binaries' first task ended on a host (precheck and configure-os are done on both), so
    // that host's next task is sending the CNI plugins archive.
    const firstTaskDone = /^ {2}(\S+) {2}install kubeadm, kubelet, kubectl {2}(?:un)?changed/m
    const underWay = new Promise<string | undefined>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk
        const match = firstTaskDone.exec(stdout)
        if (match) resolve(match[1])
      })
      void exited.then(() => resolve(undefined))
    })
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 540_000)
    let exit: { code: number | null; signal: NodeJS.Signals | null }
    let cancelToExitMs: number
    let inFlight: string
    try {
      const host = await underWay
      expect(host, `the main step ended before sync-binaries got under way:\n${stdout.slice(-3000)}\n${stderr}`).toBeDefined()
      // ...and its temp file is on the node: the upload is genuinely half done (a condition, checked until it holds).
      for (inFlight = ''; !inFlight && child.exitCode === null; inFlight = await tempFilesOn(host!));
      expect(inFlight).toMatch(/\/var\/lib\/kk-action\/artifacts\/cni-plugins\/.*\/\.kk-upload\./)
      const signalled = Date.now()
      expect(child.kill('SIGINT')).toBe(true)
      exit = await exited
      cancelToExitMs = Date.now() - signalled
    } finally {
      clearTimeout(watchdog)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      for (const node of nodes.nodes) execFileSync('tc', ['qdisc', 'del', 'dev', node.hostInterface, 'root'])
    }
    console.info(`cancelled main step: exit ${exit.code} ${cancelToExitMs} ms after SIGINT (upload in flight: ${inFlight.trim()})`)

    // Promptly (the runner sends SIGTERM 7.5 s after SIGINT), failed, with one message and no stack trace.
    expect(exit, stdout.slice(-3000)).toEqual({ code: 1, signal: null })
    expect(cancelToExitMs).toBeLessThan(7_500)
    expect(stdout).toMatch(/^::error title=kk-action::deploy cancelled \(SIGINT\)/m)
    expect(stdout).not.toMatch(/looks like a bug/)
    for (const text of [stdout, stderr]) expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)

    const { postRun, unpacked, stored, logs } = await post('cancelled', step)
    expect(postRun.status, postRun.stdout).toBe(0)
    expect(postRun.stdout).not.toMatch(/^::warning::/m)
    expect(stored, postRun.stdout).toBeDefined()
    const archive = await readTree(unpacked)
    expect(archive).toEqual(await readTree(logs))
    expect(JSON.parse(archive['plan.json'])).toMatchObject({ pipeline: 'create', kubernetesVersion: 'v1.30.1' })
    const events = archive['events.ndjson'].trimEnd().split('\n').map((line) => JSON.parse(line) as { type: string; module?: string; status?: string })
    for (const module of ['precheck', 'configure-os']) {
      expect(events).toContainEqual(expect.objectContaining({ type: 'module-end', module, status: 'ok' }))
      for (const node of nodes.nodes) expect(archive[`hosts/${node.name}/${module}.log`], `${module} on ${node.name}`).toMatch(/task ".*" (changed|unchanged) after/)
    }
    for (const node of nodes.nodes) expect(archive[`hosts/${node.name}/sync-binaries.log`]).toMatch(/task "install (kubeadm, kubelet, kubectl|CNI plugins)" cancelled after/)
    expect(events.at(-1)).toMatchObject({ type: 'module-end', module: 'sync-binaries', status: 'cancelled' })
    expect(events.some((e) => e.type === 'module-start' && e.module === 'containerd')).toBe(false)
    expect(archive['summary.md']).toContain('cancelled in module `sync-binaries`')

    // No half-installed file: the interrupted upload's temp file is gone (checked after the post step, so the
    // node's side has had its moment to notice the closed connection) and every target is absent or complete.
    for (const node of nodes.nodes) {
      expect(await tempFilesOn(node.name), `temp files left on ${node.name}`).toBe('')
      for (const name of ['kubeadm', 'kubelet', 'kubectl'] as const) {
        const sum = await nodes.exec(node.name, ['sh', '-c', 'test ! -e "$1" || sha256sum < "$1"', 'sh', `/usr/local/bin/${name}`])
        const expected = mirror.files.find((f) => f.name === name && f.version === 'v1.30.1')!.sha256
        if (sum.stdout.trim()) expect(sum.stdout.split(' ')[0], `${name} on ${node.name}`).toBe(expected)
      }
    }
  })
})
