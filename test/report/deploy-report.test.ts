import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import type { LoadResult } from '../../src/config/types.js'
import { ConnectionPool } from '../../src/nodes/connect.js'
import { PipelineError } from '../../src/pipeline/errors.js'
import { runPipeline } from '../../src/pipeline/runner.js'
import { buildPlan } from '../../src/plan/build.js'
import type { Plan } from '../../src/plan/types.js'
import { Redactor } from '../../src/report/redact.js'
import { DeploymentReport } from '../../src/report/report.js'
import { uploadLogs } from '../../src/report/upload.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { applyEnv, resultsServiceEnv, startResultsService, type ResultsService } from '../support/results-service.js'
import { readTree } from './tree.js'

const skip = await testNodesSkipReason()
const ENV_SECRET = 'Env-Substituted-Registry-Secret-991'

/** node1 logs in with a password from ${NODE_PW} (and uses it for sudo), node2 with an inline private key. */
function clusterYaml(nodes: TestNodes): string {
  const key = nodes.privateKey.trimEnd().split('\n').map((line) => `      ${line}`).join('\n')
  return `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata: {name: report-e2e}
spec:
  hosts:
  - {name: node1, address: ${nodes.node('node1').address}, internalAddress: ${nodes.node('node1').address}, user: kkpw, password: "\${NODE_PW}"}
  - name: node2
    address: ${nodes.node('node2').address}
    internalAddress: ${nodes.node('node2').address}
    user: kkdeploy
    privateKey: |
${key}
  roleGroups:
    etcd: [node1]
    control-plane: [node1]
    worker: [node1, node2]
  kubernetes:
    version: v1.30.14
    containerManager: containerd
    proxyMode: iptables
  registry:
    auths:
      "r.example.com": {username: kk, password: "\${REGISTRY_PW}"}
`
}

describe.skipIf(skip)('a deploy that fails on one host, reported end to end (runner, real precheck, test nodes, upload)', () => {
  let nodes: TestNodes
  let service: ResultsService
  let loaded: LoadResult
  let plan: Plan

  beforeAll(async () => {
    ;[nodes, service] = await Promise.all([startTestNodes({ count: 2 }), startResultsService()])
    // Something else holds the kubelet port on node2: precheck must fail there, and only there.
    await nodes.exec('node2', ['systemd-run', '--unit=squatter', 'socat', 'TCP-LISTEN:10250,fork,reuseaddr', 'SYSTEM:true'])
    const file = join(mkdtempSync(join(tmpdir(), 'kk-e2e-')), 'cluster.yaml')
    writeFileSync(file, clusterYaml(nodes))
    loaded = loadConfig(file, { env: { NODE_PW: nodes.password, REGISTRY_PW: ENV_SECRET } })
    plan = (await buildPlan(loaded.config, { until: 'precheck' })).plan
  })
  afterAll(async () => {
    await service?.stop()
    await nodes?.stop()
  })

  it('writes events, per-host logs and the failing host\'s diagnostics; the uploaded archive equals the directory; no secret anywhere', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kk-e2e-logs-')), 'logs')
    const redactor = new Redactor(loaded.secrets)
    const report = DeploymentReport.open({ dir, plan, redactor })
    const pool = new ConnectionPool({ hostKeyPolicy: 'strict', knownHostsPath: nodes.knownHostsPath, retries: 0 })
    const hosts = new Map(loaded.config.hosts.map((host) => [host.name, host]))
    let failure: unknown
    try {
      await runPipeline({ plan, config: loaded.config, connect: (host) => pool.get(host), artifacts: new Map(), concurrency: 2, events: report })
    } catch (error) {
      failure = error
    }
    expect(failure).toBeInstanceOf(PipelineError)
    expect(report.failingHosts()).toEqual(['node2'])
    await report.diagnose((name) => pool.get(hosts.get(name)!), { commandTimeoutMs: 5_000 })
    await pool.closeAll()
    const markdown = report.finish({ error: failure, logs: { artifactName: 'kk-logs-e2e' } })

    const files = await readTree(dir)
    expect(Object.keys(files).sort()).toEqual([
      'events.ndjson', 'hosts/node1/precheck.log', 'hosts/node2/diagnostics.log', 'hosts/node2/precheck.log', 'plan.json', 'summary.md',
    ])
    const events = files['events.ndjson'].trimEnd().split('\n').map((line) => JSON.parse(line))
    expect(events).toContainEqual(expect.objectContaining({ type: 'task-end', module: 'precheck', task: 'ports are free', host: 'node2', status: 'failed' }))
    expect(events).toContainEqual(expect.objectContaining({ type: 'task-end', module: 'precheck', task: 'ports are free', host: 'node1', status: 'unchanged' }))
    expect(events.at(-1)).toMatchObject({ type: 'module-end', module: 'precheck', status: 'failed' })
    expect(files['hosts/node2/precheck.log']).toMatch(/\$ ss -Hltnp\n(.*\n)* {2}out\| LISTEN .*:10250 .*socat/)
    expect(files['hosts/node2/precheck.log']).toMatch(/task "ports are free" failed after .*port\(s\) already in use: 10250 by socat/)
    expect(files['hosts/node2/diagnostics.log']).toContain('## journal of kubelet')
    expect(markdown).toContain('**node2**: module `precheck`, task "ports are free": host node2: port(s) already in use: 10250 by socat')
    expect(markdown).toContain('| kubeadm-init | after --until precheck |')

    const restore = applyEnv({ ...resultsServiceEnv(service.url), GITHUB_WORKSPACE: dir })
    let outcome
    try {
      outcome = await uploadLogs({ dir, name: 'kk-logs-e2e' })
    } finally {
      restore()
    }
    expect(outcome).toMatchObject({ uploaded: true })
    const stored = service.artifacts.find((artifact) => artifact.name === 'kk-logs-e2e')!
    const scratch = mkdtempSync(join(tmpdir(), 'kk-e2e-zip-'))
    writeFileSync(join(scratch, 'a.zip'), service.blobContent(stored.blobName)!)
    execFileSync('unzip', ['-q', join(scratch, 'a.zip'), '-d', join(scratch, 'unpacked')])
    const archived = await readTree(join(scratch, 'unpacked'))
    expect(archived).toEqual(files)

    const keyLines = nodes.privateKey.trim().split('\n').slice(1, -1)
    const secrets = [nodes.password, ENV_SECRET, nodes.privateKey.trim(), ...keyLines]
    for (const [name, text] of [...Object.entries(files), ...Object.entries(archived).map(([n, t]) => [`archive:${n}`, t])]) {
      for (const secret of secrets) expect(text.includes(secret), `${name} holds a secret`).toBe(false)
    }
    // The inline key did reach plan-time config (the loader registered it): the scan above is not vacuous.
    expect(loaded.secrets).toEqual(expect.arrayContaining([nodes.password, ENV_SECRET, nodes.privateKey]))
    expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toBe(markdown)
  })
})
