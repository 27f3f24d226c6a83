/**
 * .github/workflows/e2e.yml, run as written, step by step, inside a test node that looks like GitHub's
 * ubuntu-24.04 runner where it matters (test/nodes/testnodes.ts, profile runner-image: Debian's docker and
 * containerd running, no conntrack/socat/ipset/ipvsadm, a helm and a kubectl of its own in /usr/local/bin).
 * `uses: ./` steps run the bundled action (dist/main, and at the job's end dist/post in reverse order, with each
 * step's saved state), `run:` steps run in bash with their `env:`, `${{ steps.<id>.outputs.<name> }}` filled in.
 *
 * What differs from GitHub, and why: actions/checkout is the copy of the files the steps read; the action gets
 * the local mirror and its checksums (the node has no network; kubeadm, kubelet, kubectl, crictl, helm and
 * calicoctl are the mirror's test doubles), `cache: false`; the example config gets the mirror's component
 * versions and proxyMode iptables (this machine's kernel has no ip_vs, which precheck would rightly refuse), and
 * the deploy step's kubernetes-version is the nearest the doubles serve. Packages the precheck installs come
 * from a local apt repository in the node (conntrack, socat, ipset, ipvsadm .debs with a Packages index).
 *
 * Afterwards the runner is still the runner: its docker answers and runs the image it had, its containerd
 * runs, its helm and kubectl are the very bytes it had.
 */
import { createHash } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { buildMirror, DEFAULT_OUT_DIR, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import {
  RUNNER_HELM, RUNNER_IMAGE_MISSING, RUNNER_KUBECTL, startTestNodes, testNodesSkipReason, type TestNode, type TestNodes,
} from '../nodes/testnodes.js'
import { buildRunnerAptRepo } from '../nodes/runner-image.js'
import { node24, repoRoot } from '../support/bundle.js'
import { resultsServiceEnv, startResultsService, type ResultsService } from '../support/results-service.js'
import { fileCommands } from '../support/action-files.js'

const skip = await testNodesSkipReason()

/** The Kubernetes version the mirror's doubles serve in place of the workflow's (v1.33.4). */
const DOUBLES_VERSION = 'v1.30.14'
const WORKSPACE = '/root/work'
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

interface Step {
  name?: string
  id?: string
  uses?: string
  run?: string
  if?: string
  with?: Record<string, string | number | boolean>
  env?: Record<string, string>
}

interface StepRun {
  step: string
  code: number
  stdout: string
  stderr: string
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

describe.skipIf(skip)('.github/workflows/e2e.yml, run as written on a runner-image test node', () => {
  let nodes: TestNodes
  let node: TestNode
  let mirror: MirrorBuild
  let server: MirrorServer
  let service: ResultsService
  const runs: StepRun[] = []
  const onNode = (command: string, env: Record<string, string> = {}) => nodes.exec(node.name, [
    'env', '-i', `PATH=${PATH}`, 'HOME=/root', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'bash', '-e', '-c', command,
  ])
  // Through the node's own view (writing into a mounted overlay's upper dir from outside is undefined).
  const writeInNode = async (path: string, content: string) => {
    const written = await nodes.exec(node.name, ['sh', '-c', 'cat > "$1"', 'sh', path], content)
    if (written.code !== 0) throw new Error(`cannot write ${path} in the node: ${written.stderr}`)
  }
  const readInNode = async (path: string) => (await nodes.exec(node.name, ['sh', '-c', 'cat -- "$1" 2>/dev/null || true', 'sh', path])).stdout

  beforeAll(async () => {
    const aptRepo = buildRunnerAptRepo()
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 1, prefix: 'kkwf', profile: { kind: 'runner-image', aptRepo } }), buildMirror()])
    node = nodes.nodes[0]
    server = await serveMirror(mirror.root, 0, nodes.bridgeAddress)
    service = await startResultsService({ host: nodes.bridgeAddress })
    // The runner as the job finds it: its docker up, holding an image of its own.
    const up = await onNode('for i in $(seq 1 120); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done; systemctl status docker containerd --no-pager; exit 1')
    expect(up.code, up.stdout + up.stderr).toBe(0)
    // The checkout (the node sees this machine's /work and the repository under it).
    const copied = await onNode(`mkdir -p ${WORKSPACE}/examples ${WORKSPACE}/_temp ${WORKSPACE}/dist && cp -r "$REPO/dist/main" "$REPO/dist/post" ${WORKSPACE}/dist/ && cp "$CHECKSUMS" ${WORKSPACE}/checksums.json && docker load -i "$IMAGE"`,
      { REPO: repoRoot, CHECKSUMS: mirror.checksumsFile, IMAGE: mirror.image.tar })
    expect(copied.code, copied.stderr).toBe(0)
  }, 600_000)
  afterAll(async () => {
    await server?.close()
    await service?.stop()
    await nodes?.stop()
  })

  it('the node is the runner image: docker and containerd running, no conntrack/socat/ipset/ipvsadm, its own helm and kubectl', async () => {
    expect((await onNode('systemctl is-active containerd docker')).stdout.split('\n').filter(Boolean)).toEqual(['active', 'active'])
    const missing = await onNode(`for c in ${RUNNER_IMAGE_MISSING.join(' ')}; do command -v "$c" || true; dpkg-query -W -f '\${Status}\\n' "$c" 2>/dev/null || true; done`)
    expect(missing.stdout).toBe('')
    expect((await onNode('sha256sum < /usr/local/bin/helm')).stdout.split(' ')[0]).toBe(sha256(RUNNER_HELM))
    expect((await onNode('sha256sum < /usr/local/bin/kubectl')).stdout.split(' ')[0]).toBe(sha256(RUNNER_KUBECTL))
  })

  it('every step of e2e.yml succeeds, the post steps too, and the runner keeps its docker, containerd, helm and kubectl', { timeout: 1_200_000 }, async () => {
    const workflow = parse(readFileSync(join(repoRoot, '.github/workflows/e2e.yml'), 'utf8')) as { jobs: Record<string, { steps: Step[] }> }
    const steps = workflow.jobs['all-in-one'].steps
    const action = parse(readFileSync(join(repoRoot, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: string }> }

    // The example as the workflow names it, with what this machine needs (see the header).
    const example = parse(readFileSync(join(repoRoot, 'examples/all-in-one.yaml'), 'utf8')) as { spec: Record<string, Record<string, unknown>> }
    example.spec.kubernetes = { ...example.spec.kubernetes, version: DOUBLES_VERSION, proxyMode: 'iptables' }
    example.spec.componentVersions = { ...mirror.componentVersions }
    await writeInNode(`${WORKSPACE}/examples/all-in-one.yaml`, stringify(example))

    const outputs: Record<string, Record<string, string>> = {}
    const posts: Array<{ step: string; state: Record<string, string> }> = []
    const expand = (text: string) => text.replace(/\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}/g, (_, id: string, name: string) => outputs[id]?.[name] ?? '')
    const common = {
      GITHUB_WORKSPACE: WORKSPACE, RUNNER_TEMP: `${WORKSPACE}/_temp`, RUNNER_TOOL_CACHE: `${WORKSPACE}/_tool`, GITHUB_ACTIONS: 'true',
      GITHUB_JOB: 'all-in-one', GITHUB_RUN_ID: '1', GITHUB_RUN_ATTEMPT: '1', RUNNER_NAME: 'runner-image',
      ...Object.fromEntries(Object.entries(resultsServiceEnv(service.url, { runId: 'run-wf', jobId: 'job-wf' })).filter((e): e is [string, string] => e[1] !== undefined)),
    }
    const fresh = (label: string, file: string) => `${WORKSPACE}/_temp/${label}-${file}`
    let failed = false
    for (const [index, step] of steps.entries()) {
      const label = step.id ?? `step${index}`
      if (step.uses?.startsWith('actions/checkout')) continue
      if (failed && step.if !== 'always()') continue
      const files = Object.fromEntries(['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_ENV', 'GITHUB_STEP_SUMMARY'].map((f) => [f, fresh(label, f)]))
      await nodes.exec(node.name, ['sh', '-c', 'for f in "$@"; do : > "$f"; done', 'sh', ...Object.values(files)])
      let result: { code: number; stdout: string; stderr: string }
      if (step.uses === './') {
        const inputs = Object.fromEntries(Object.entries(action.inputs).map(([name, input]) => [name, String(input.default ?? '')]))
        for (const [name, value] of Object.entries(step.with ?? {})) inputs[name] = expand(String(value))
        inputs.matrix = '{"runner":"ubuntu-24.04"}'
        if (inputs['kubernetes-version']) inputs['kubernetes-version'] = DOUBLES_VERSION
        Object.assign(inputs, { mirror: server.url, checksums: `${WORKSPACE}/checksums.json`, cache: 'false' })
        const env = { ...common, ...files, ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])) }
        result = await onNode(`cd ${WORKSPACE} && exec "$NODE24" dist/main/index.js`, { ...env, NODE24: node24() })
        outputs[label] = fileCommands(await readInNode(files.GITHUB_OUTPUT))
        posts.unshift({ step: label, state: fileCommands(await readInNode(files.GITHUB_STATE)) })
      } else {
        const env = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, expand(String(v))]))
        result = await onNode(`cd ${WORKSPACE} && ${step.run!}`, { ...common, ...files, ...env })
      }
      runs.push({ step: step.name ?? label, ...result })
      if (result.code !== 0) failed = true
    }
    // As the pods' images would be (the kubelet double pulls none): one in the CRI's namespace of the runner's containerd data.
    const pulled = await onNode('/usr/local/bin/ctr -n k8s.io images import "$TAR" >/dev/null && /usr/local/bin/ctr -n k8s.io images ls -q', { TAR: mirror.image.tar })
    expect(pulled.stdout, pulled.stderr).toContain(mirror.image.name.split(':')[0].split('/').pop())
    // The job's end: each `uses: ./` step's post (action.yml post-if: always()), last step first.
    for (const post of posts) {
      const files = Object.fromEntries(['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_ENV', 'GITHUB_STEP_SUMMARY'].map((f) => [f, fresh(`post-${post.step}`, f)]))
      await nodes.exec(node.name, ['sh', '-c', 'for f in "$@"; do : > "$f"; done', 'sh', ...Object.values(files)])
      const state = Object.fromEntries(Object.entries(post.state).map(([k, v]) => [`STATE_${k}`, v]))
      const result = await onNode(`cd ${WORKSPACE} && exec "$NODE24" dist/post/index.js`, { ...common, ...files, ...state, NODE24: node24() })
      runs.push({ step: `post ${post.step}`, ...result })
    }
    for (const run of runs) console.info(`${run.step}: exit ${run.code}`)
    for (const run of runs) expect(run.code, `${run.step}:\n${run.stdout.slice(-4000)}\n${run.stderr.slice(-2000)}`).toBe(0)
    expect(runs.map((r) => r.step)).toEqual(['Plan', 'The plan skips docker and cri-dockerd for containerd', 'Deploy on the runner',
      'kubectl with the kubeconfig output', 'Outputs', 'post deploy', 'post plan'])
    const deploy = runs.find((r) => r.step === 'Deploy on the runner')!
    expect(deploy.stdout).toMatch(/lacks conntrack.*installing conntrack/)
    expect(runs.find((r) => r.step === 'kubectl with the kubeconfig output')!.stdout).toContain('Ready')

    // The runner after the job: its own docker, containerd, image, helm and kubectl.
    const docker = await onNode('systemctl is-active containerd docker; docker info --format "{{.ServerVersion}}"; docker image inspect --format ok "$IMAGE"', { IMAGE: mirror.image.name })
    expect(docker.stdout.split('\n').filter(Boolean), docker.stderr).toEqual(['active', 'active', expect.stringMatching(/^20\./), 'ok'])
    // dockerd redials containerd with a backoff after the machine's containerd came back: give it that moment.
    const ran = await onNode('for i in $(seq 1 60); do docker run --rm --network none "$IMAGE" echo still-runs 2>&1 && exit 0; sleep 0.5; done; exit 1', { IMAGE: mirror.image.name })
    expect(ran.stdout + ran.stderr).toContain('still-runs')
    expect((await onNode('sha256sum < /usr/local/bin/helm')).stdout.split(' ')[0]).toBe(sha256(RUNNER_HELM))
    expect((await onNode('sha256sum < /usr/local/bin/kubectl')).stdout.split(' ')[0]).toBe(sha256(RUNNER_KUBECTL))
    expect((await onNode('systemctl is-active kubelet etcd 2>/dev/null; true')).stdout).not.toMatch(/^active$/m)
    // What the cluster left in the runner's containerd went; the runner's own namespaces (docker's moby) stay.
    const namespaces = await onNode('ctr namespaces ls -q; ctr -n k8s.io images ls -q 2>/dev/null')
    expect(namespaces.stdout.split('\n').filter(Boolean), namespaces.stderr).toEqual(['moby'])
  })

  afterAll(() => {
    if (runs.length === 0) return
    rmSync(join(DEFAULT_OUT_DIR, '..', 'workflow-e2e.log'), { force: true })
    writeFileSync(join(DEFAULT_OUT_DIR, '..', 'workflow-e2e.log'), runs.map((r) => `== ${r.step}: exit ${r.code}\n${r.stdout}\n${r.stderr}`).join('\n'))
  })
})
