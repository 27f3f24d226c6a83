/**
 * REAL Kubernetes v1.20.2 with `nodes: ephemeral`: the bundled action's main and post steps, run as GitHub
 * runs them, inside a test node shaped like GitHub's ubuntu-24.04 runner (profile runner-image: its own docker
 * and containerd running, no conntrack/socat/ipset, its own helm and kubectl). The runner is etcd, control
 * plane and worker; `cleanup: true` resets it in the post step, and the runner is the runner again.
 * The images are imported into the runner's own containerd first (kk-action has no image path yet), and the
 * user's bridge CNI stands in for a network plugin (network.plugin: none).
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { serveMirror, type MirrorServer } from '../fixtures/build-mirror.js'
import { RUNNER_HELM, RUNNER_KUBECTL, startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { buildRunnerAptRepo } from '../nodes/runner-image.js'
import { fileCommands } from '../support/action-files.js'
import { node24, repoRoot } from '../support/bundle.js'
import { resultsServiceEnv, startResultsService, type ResultsService } from '../support/results-service.js'
import { placeUserCni, writeRealClusterFile } from '../real-k8s/cluster.js'
import { buildRealMirror, realBinaries, realBinariesSkipReason, type RealMirror } from '../real-k8s/fixture.js'
import { keepLogsOnFailure } from '../real-k8s/keep-logs.js'

const skip = (await testNodesSkipReason()) ?? realBinariesSkipReason()
if (skip && process.env.CI) throw new Error(`the real-Kubernetes tests cannot run in CI: ${skip}`)

const WORKSPACE = '/root/work'
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

describe.skipIf(skip)('real Kubernetes v1.20.2, nodes: ephemeral, the action\'s main and post steps on a runner-image node', () => {
  let nodes: TestNodes
  let mirror: RealMirror
  let server: MirrorServer
  let service: ResultsService
  let main: { code: number; stdout: string; stderr: string }
  let outputs: Record<string, string>
  let state: Record<string, string>
  const onNode = (command: string, env: Record<string, string> = {}) => nodes.exec(nodes.nodes[0].name, [
    'env', '-i', `PATH=${PATH}`, 'HOME=/root', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'bash', '-e', '-c', command,
  ])
  const common = () => ({
    GITHUB_WORKSPACE: WORKSPACE, RUNNER_TEMP: `${WORKSPACE}/_temp`, RUNNER_TOOL_CACHE: `${WORKSPACE}/_tool`, GITHUB_ACTIONS: 'true',
    GITHUB_JOB: 'smoke', GITHUB_RUN_ID: '1', GITHUB_RUN_ATTEMPT: '1', RUNNER_NAME: 'runner-image', NODE24: node24(),
    ...Object.fromEntries(Object.entries(resultsServiceEnv(service.url, { runId: 'run-eph', jobId: 'job-eph' })).filter((e): e is [string, string] => e[1] !== undefined)),
  })
  const files = (label: string) => Object.fromEntries(['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_ENV', 'GITHUB_STEP_SUMMARY'].map((f) => [f, `${WORKSPACE}/_temp/${label}-${f}`]))
  const step = async (label: string, entry: 'main' | 'post', env: Record<string, string>) => {
    const own = files(label)
    await nodes.exec(nodes.nodes[0].name, ['sh', '-c', 'mkdir -p "$(dirname "$1")"; for f in "$@"; do : > "$f"; done', 'sh', ...Object.values(own)])
    const result = await onNode(`cd ${WORKSPACE} && exec "$NODE24" dist/${entry}/index.js`, { ...common(), ...own, ...env })
    const read = async (f: string) => (await nodes.exec(nodes.nodes[0].name, ['cat', own[f]])).stdout
    return { result, outputs: fileCommands(await read('GITHUB_OUTPUT')), state: fileCommands(await read('GITHUB_STATE')) }
  }

  beforeAll(async () => {
    const bins = realBinaries()!
    const aptRepo = buildRunnerAptRepo()
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 1, prefix: 'kkreph', profile: { kind: 'runner-image', aptRepo } }), buildRealMirror(bins)])
    server = await serveMirror(mirror.root, 0, nodes.bridgeAddress)
    service = await startResultsService({ host: nodes.bridgeAddress })
    const up = await onNode('for i in $(seq 1 120); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1')
    expect(up.code, up.stderr).toBe(0)
    const dir = mkdtempSync(join(tmpdir(), 'kk-real-eph-'))
    const file = writeRealClusterFile(dir, nodes, mirror, { controlPlanes: [nodes.nodes[0].name], workers: [nodes.nodes[0].name] })
    const copied = await onNode(`mkdir -p ${WORKSPACE}/_temp ${WORKSPACE}/dist && cp -r "$REPO/dist/main" "$REPO/dist/post" ${WORKSPACE}/dist/ && cp "$CHECKSUMS" ${WORKSPACE}/checksums.json`,
      { REPO: repoRoot, CHECKSUMS: mirror.checksumsFile })
    expect(copied.code, copied.stderr).toBe(0)
    await nodes.exec(nodes.nodes[0].name, ['sh', '-c', `cat > ${WORKSPACE}/cluster.yaml`], readFileSync(file, 'utf8'))
    await placeUserCni(nodes)
    // Preloaded into the runner's own containerd, which kk-action takes over for the job and gives back after.
    for (const image of [...mirror.images.kubeadm, mirror.images.workload]) {
      const imported = await onNode('ctr -n k8s.io images import "$TAR" >/dev/null', { TAR: image.tar })
      expect(imported.code, imported.stderr).toBe(0)
    }
    const action = parse(readFileSync(join(repoRoot, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: string }> }
    const inputs = Object.fromEntries(Object.entries(action.inputs).map(([name, input]) => [name, String(input.default ?? '')]))
    Object.assign(inputs, {
      config: 'cluster.yaml', nodes: 'ephemeral', cleanup: 'true', mirror: server.url, checksums: `${WORKSPACE}/checksums.json`,
      cache: 'false', matrix: '{}',
    })
    const ran = await step('deploy', 'main', Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])))
    ;({ result: main, outputs, state } = ran)
  }, 1_500_000)
  afterAll(async () => {
    await server?.close()
    await service?.stop()
    await nodes?.stop()
  })
  keepLogsOnFailure('real-ephemeral', () => ({ nodes })) // after hooks run last-first: before the stop

  it('the main step deploys the runner as a one-node cluster and sets the kubeconfig output', async () => {
    expect(main.code, `${main.stdout.slice(-6000)}\n${main.stderr.slice(-2000)}`).toBe(0)
    expect(main.stdout).toMatch(/lacks conntrack.*installing conntrack/)
    expect(outputs['kubernetes-version']).toBe('v1.20.2')
    const got = await onNode(`"$KUBECTL" --kubeconfig "$CONFIG" get nodes -o jsonpath='{.items[*].status.nodeInfo.kubeletVersion} {.items[*].status.conditions[?(@.type=="Ready")].status}'`,
      { KUBECTL: join(realBinaries()!, 'kubectl'), CONFIG: outputs.kubeconfig })
    expect(got.stdout.trim(), got.stderr).toBe('v1.20.2 True')
  })

  it('the post step resets the runner: its docker, containerd, helm and kubectl are its own again', async () => {
    const post = await step('post', 'post', Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v])))
    expect(post.result.code, `${post.result.stdout.slice(-6000)}\n${post.result.stderr.slice(-2000)}`).toBe(0)
    const units = await onNode('systemctl is-active containerd docker; systemctl is-active kubelet etcd 2>/dev/null || true')
    expect(units.stdout.split('\n').filter(Boolean)).toEqual(['active', 'active', 'inactive', 'inactive'])
    expect((await onNode('sha256sum < /usr/local/bin/helm')).stdout.split(' ')[0]).toBe(sha256(RUNNER_HELM))
    expect((await onNode('sha256sum < /usr/local/bin/kubectl')).stdout.split(' ')[0]).toBe(sha256(RUNNER_KUBECTL))
  }, 600_000)
})
