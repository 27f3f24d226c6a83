/**
 * The etcd module for real: Debian's etcd 3.4 (from the local mirror) on systemd test nodes, over SSH
 * with strict host keys and a sudo user. Every module but etcd is skipped by the plan; kubeadm-init is
 * replaced by a probe of what etcd hands over in t.shared.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterConfig, Host, Role } from '../../src/config/types.js'
import { PIPELINES } from '../../src/modules/index.js'
import type { ModuleDefinition } from '../../src/modules/module.js'
import type { PipelineEvent } from '../../src/pipeline/events.js'
import type { PipelineResult } from '../../src/pipeline/runner.js'
import { CREATE_MODULES } from '../../src/plan/types.js'
import { buildMirror, type MirrorBuild } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { runModules, setupWithMirror, type ModuleRunSetup } from './pipeline-run.js'
import { renderDrift, unlistedUploads } from './rendered-on-node.js'
import { makeConfig } from '../plan/make-config.js'

const ETCDCTL = '/usr/local/bin/etcdctl'
const SSL = '/etc/ssl/etcd/ssl'

/**
 * A cluster of the test nodes, all control planes; `etcdHosts` carry the etcd role. The login user is
 * the NOPASSWD sudoer, or with `passwordSudo` the one whose sudo reads its password from stdin.
 */
function nodesConfig(nodes: TestNodes, mirror: MirrorBuild, etcdHosts: string[], passwordSudo = false): ClusterConfig {
  const config = makeConfig({ controlPlanes: nodes.nodes.length })
  config.hosts = nodes.nodes.map((node): Host => {
    const roles: Role[] = etcdHosts.includes(node.name) ? ['etcd', 'control-plane'] : ['control-plane']
    return {
      name: node.name, address: node.address, internalAddress: node.address, port: node.port,
      user: passwordSudo ? nodes.users.sudopw : nodes.users.nopass, password: passwordSudo ? nodes.password : undefined,
      privateKey: nodes.privateKey, arch: 'amd64', roles, labels: {},
    }
  })
  config.roleGroups = { etcd: etcdHosts, 'control-plane': nodes.nodes.map((n) => n.name), worker: [] }
  config.componentVersions = { etcd: mirror.componentVersions.etcd! }
  config.etcd.backupPeriod = 30
  config.etcd.keepBackupNumber = 2
  return config
}

interface EtcdRunOutcome {
  result: PipelineResult
  bytesUploaded: number
  events: PipelineEvent[]
  /** What etcd left in t.shared for kubeadm-init, as the probe saw it. */
  shared: unknown
  ms: number
  setup: ModuleRunSetup
}

async function runEtcd(nodes: TestNodes, mirror: MirrorBuild, config: ClusterConfig): Promise<EtcdRunOutcome> {
  const skipModules = CREATE_MODULES.filter((id) => id !== 'etcd' && id !== 'kubeadm-init')
  const setup = await setupWithMirror(nodes, mirror, config, { skipModules })
  let shared: unknown
  const probe: ModuleDefinition = {
    ...PIPELINES.create.find((m) => m.id === 'kubeadm-init')!,
    tasks: () => [{ name: 'read what etcd shares', run: async (t) => { shared = t.shared.get('etcd') } }],
  }
  const run = await runModules(setup, { concurrency: 4, modules: [probe] })
  if (run.error) throw run.error
  return { result: run.result!, bytesUploaded: run.bytesUploaded, events: run.events, shared, ms: run.ms, setup }
}

/** Runs a command inside a node (outside SSH) and returns stdout; throws with stderr on failure. */
async function onNode(nodes: TestNodes, name: string, args: string[]): Promise<string> {
  const result = await nodes.exec(name, args)
  if (result.code !== 0) throw new Error(`${args.join(' ')} on ${name} exited ${result.code}: ${result.stderr}`)
  return result.stdout
}

/** etcdctl on a node with its admin certificate. */
function etcdctlArgs(node: string, endpoints: string[], ...args: string[]): string[] {
  return [ETCDCTL, `--endpoints=${endpoints.join(',')}`, `--cacert=${SSL}/ca.pem`,
    `--cert=${SSL}/admin-${node}.pem`, `--key=${SSL}/admin-${node}-key.pem`, ...args]
}

/** sha256 of every file in the node's etcd certificate directory. */
async function certDigests(nodes: TestNodes, name: string): Promise<string> {
  return onNode(nodes, name, ['sh', '-c', `cd ${SSL} && sha256sum *.pem`])
}

/**
 * The nodes' lower layer is this machine's /usr and /etc, where Debian's etcd-server package is
 * installed and enabled (it supplies the mirror's binaries). A fresh Ubuntu/Debian target has no etcd:
 * stop and disable that one so each node starts out like a clean machine.
 */
async function removeHostEtcd(nodes: TestNodes): Promise<void> {
  await Promise.all(nodes.nodes.map((node) => nodes.exec(node.name, ['systemctl', 'disable', '--now', 'etcd'])))
}

const skipReason = await testNodesSkipReason()
const ALL = ['node1', 'node2', 'node3']

function endpointsOf(nodes: TestNodes, names = ALL): string[] {
  return names.map((name) => `https://${nodes.node(name).address}:2379`)
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs / 1000}s`)
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}

async function mainPid(nodes: TestNodes, name: string): Promise<string> {
  return (await onNode(nodes, name, ['systemctl', 'show', '-p', 'MainPID', '--value', 'etcd'])).trim()
}

describe.skipIf(skipReason)('etcd module: a new 3-member cluster on test nodes', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  let config: ClusterConfig
  let first: EtcdRunOutcome

  beforeAll(async () => {
    mirror = await buildMirror()
    nodes = await startTestNodes({ count: 3 })
    await removeHostEtcd(nodes)
    config = nodesConfig(nodes, mirror, ALL)
    first = await runEtcd(nodes, mirror, config)
    console.log(`etcd module, first run on 3 nodes: ${first.ms} ms, ${first.result.changed} changed task(s), ${first.bytesUploaded} bytes uploaded`)
  }, 240_000)

  afterAll(async () => {
    await nodes?.stop()
  })

  it('forms a healthy 3-member TLS cluster, seen from every node', async () => {
    expect(first.result.modules.find((m) => m.id === 'etcd')).toMatchObject({ status: 'ok' })
    for (const name of ALL) {
      const health = await nodes.exec(name, etcdctlArgs(name, endpointsOf(nodes), 'endpoint', 'health'))
      expect(health.code, health.stderr).toBe(0)
      expect((health.stdout + health.stderr).match(/is healthy/g)).toHaveLength(3)
      const members = (await onNode(nodes, name, etcdctlArgs(name, endpointsOf(nodes, [name]), 'member', 'list'))).trim().split('\n')
      expect(members).toHaveLength(3)
      for (const other of ALL) {
        expect(members).toContainEqual(expect.stringContaining(`, started, etcd-${other}, https://${nodes.node(other).address}:2380, https://${nodes.node(other).address}:2379`))
      }
    }
  })

  it('render shows what a new cluster got: etcd.env, the unit, the backup script, service and timer on each member', async () => {
    const drift = await renderDrift(first.setup, { modules: ['etcd'] })
    expect(drift.problems).toEqual([])
    expect(drift.compared).toBe(15)
  })

  it('render lists every file the etcd module uploaded but artifacts', () => {
    expect(unlistedUploads(first.setup, first.events)).toEqual([])
  })

  it('refuses a client without a certificate signed by the etcd CA', async () => {
    const anonymous = await nodes.exec('node1', [ETCDCTL, `--endpoints=${endpointsOf(nodes, ['node2'])[0]}`, `--cacert=${SSL}/ca.pem`,
      '--dial-timeout=3s', '--command-timeout=3s', 'endpoint', 'health'])
    expect(anonymous.code).not.toBe(0)
    expect(anonymous.stdout + anonymous.stderr).toMatch(/bad certificate|certificate required|unhealthy/)
  })

  it("issues member certificates with the host's names and addresses, signed by one CA; keys 0600", async () => {
    const text = await onNode(nodes, 'node2', ['openssl', 'x509', '-in', `${SSL}/member-node2.pem`, '-noout', '-text'])
    const san = text.slice(text.indexOf('Subject Alternative Name'))
    for (const name of ['DNS:node2', 'DNS:localhost', `IP Address:${nodes.node('node2').address}`, 'IP Address:127.0.0.1']) {
      expect(san).toContain(name)
    }
    expect(san).not.toContain(`IP Address:${nodes.node('node1').address}`)
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication|TLS Web Client Authentication, TLS Web Server Authentication/)
    expect(await onNode(nodes, 'node2', ['openssl', 'verify', '-CAfile', `${SSL}/ca.pem`, `${SSL}/member-node2.pem`, `${SSL}/admin-node2.pem`, `${SSL}/node-node1.pem`]))
      .toMatch(/member-node2.pem: OK[\s\S]*admin-node2.pem: OK[\s\S]*node-node1.pem: OK/)
    const caSums = await Promise.all(ALL.map((name) => onNode(nodes, name, ['sha256sum', `${SSL}/ca.pem`])))
    expect(new Set(caSums).size).toBe(1)
    const modes = await onNode(nodes, 'node3', ['sh', '-c', `stat -c '%a %n' ${SSL} ${SSL}/*-key.pem`])
    const lines = modes.trim().split('\n')
    expect(lines[0]).toBe(`700 ${SSL}`)
    expect(lines.slice(1)).toHaveLength(1 + 3 * 2 + 3) // ca-key, member+admin per etcd host, node per control plane
    for (const line of lines.slice(1)) expect(line).toMatch(/^600 /)
  })

  it('hands kubeadm-init the endpoints, the CA and a client certificate per control plane', async () => {
    const shared = first.shared as { endpoints: string[]; caFile: string; caPem: string; clients: Record<string, { certFile: string; certPem: string; keyPem: string }> }
    expect(shared.endpoints).toEqual(endpointsOf(nodes))
    expect(shared.caFile).toBe(`${SSL}/ca.pem`)
    expect(shared.caPem).toBe(await onNode(nodes, 'node1', ['cat', `${SSL}/ca.pem`]))
    expect(Object.keys(shared.clients)).toEqual(ALL)
    expect(shared.clients.node3.certFile).toBe(`${SSL}/node-node3.pem`)
    expect(shared.clients.node3.keyPem).toBe(await onNode(nodes, 'node1', ['cat', `${SSL}/node-node3-key.pem`]))
  })

  it('installs the backup timer every backupPeriod minutes; its service snapshots and keeps keepBackupNumber', async () => {
    for (const name of ALL) {
      expect((await onNode(nodes, name, ['systemctl', 'is-enabled', 'backup-etcd.timer'])).trim()).toBe('enabled')
      expect((await onNode(nodes, name, ['systemctl', 'is-active', 'backup-etcd.timer'])).trim()).toBe('active')
    }
    expect(await onNode(nodes, 'node1', ['systemctl', 'cat', 'backup-etcd.timer'])).toContain('OnCalendar=*-*-* *:00/30:00')
    for (let i = 0; i < 3; i++) {
      await onNode(nodes, 'node1', ['systemctl', 'start', 'backup-etcd.service'])
      await new Promise((resolve) => setTimeout(resolve, 1100))
    }
    const snapshots = (await onNode(nodes, 'node1', ['sh', '-c', 'ls -d /var/backups/kube_etcd/etcd-*/snapshot.db'])).trim().split('\n')
    expect(snapshots).toHaveLength(2)
    const status = await onNode(nodes, 'node1', [ETCDCTL, 'snapshot', 'status', snapshots[1], '-w', 'simple'])
    expect(status.split(',').length).toBeGreaterThanOrEqual(4)
  })

  it('changes nothing on a second run: zero changed tasks, zero bytes, the same CA, keys and running members', async () => {
    const before = await Promise.all(ALL.map((name) => certDigests(nodes, name)))
    const pids = await Promise.all(ALL.map((name) => mainPid(nodes, name)))
    const second = await runEtcd(nodes, mirror, config)
    console.log(`etcd module, rerun on 3 nodes: ${second.ms} ms, ${second.result.changed} changed, ${second.bytesUploaded} bytes uploaded`)
    expect(second.result.changed).toBe(0)
    expect(second.bytesUploaded).toBe(0)
    expect(second.events.filter((e) => e.type === 'task-end' && e.status !== 'unchanged')).toEqual([])
    expect(await Promise.all(ALL.map((name) => certDigests(nodes, name)))).toEqual(before)
    expect(await Promise.all(ALL.map((name) => mainPid(nodes, name)))).toEqual(pids)
    // The rerun read the CA key back from node1; neither run's events (the logs) may hold a key.
    const keyLines = (await onNode(nodes, 'node1', ['sh', '-c', `cat ${SSL}/*-key.pem`])).split('\n').filter((line) => line.length >= 40)
    for (const outcome of [first, second]) {
      const logged = JSON.stringify(outcome.events)
      expect(logged).not.toContain('PRIVATE KEY')
      expect(keyLines.filter((line) => logged.includes(line))).toEqual([])
    }
  })

  it('restarts a member whose restart an interrupted run left pending, and only that one', { timeout: 90_000 }, async () => {
    // What a run leaves behind when it changed node2's files and failed before restarting etcd there.
    await onNode(nodes, 'node2', ['sh', '-c', 'mkdir -p /var/lib/kk-action/restart-pending && touch /var/lib/kk-action/restart-pending/etcd'])
    const pids = await Promise.all(ALL.map((name) => mainPid(nodes, name)))
    const resumed = await runEtcd(nodes, mirror, config)
    const after = await Promise.all(ALL.map((name) => mainPid(nodes, name)))
    expect(after[0]).toBe(pids[0])
    expect(after[1]).not.toBe(pids[1])
    expect(after[2]).toBe(pids[2])
    expect(resumed.bytesUploaded).toBe(0)
    expect((await nodes.exec('node2', ['test', '-e', '/var/lib/kk-action/restart-pending/etcd'])).code).not.toBe(0)
  })

  it('survives a member killed and booted again: quorum holds meanwhile, etcd comes back by itself, a rerun changes nothing', { timeout: 120_000 }, async () => {
    await nodes.kill('node2')
    // If node2 led, writes pause for an election (ETCD_ELECTION_TIMEOUT 5 s); with 2 of 3 they then go through.
    await waitFor(async () => (await nodes.exec('node1', etcdctlArgs('node1', endpointsOf(nodes, ['node1', 'node3']), 'put', 'kk-test', 'during-outage'))).code === 0, 30_000)
    await nodes.restart('node2')
    await waitFor(async () => (await nodes.exec('node2', etcdctlArgs('node2', endpointsOf(nodes, ['node2']), 'get', 'kk-test', '--print-value-only'))).stdout.trim() === 'during-outage')
    const again = await runEtcd(nodes, mirror, config)
    expect(again.result.changed).toBe(0)
    expect(again.bytesUploaded).toBe(0)
  })
})

// As a user whose sudo needs its password on stdin: the PKI read also sends its passphrase there.
describe.skipIf(skipReason)('etcd module: a host added to a running cluster joins it', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild

  beforeAll(async () => {
    mirror = await buildMirror()
    nodes = await startTestNodes({ count: 3 })
    await removeHostEtcd(nodes)
  }, 120_000)

  afterAll(async () => {
    await nodes?.stop()
  })

  it('keeps the CA and the members, adds node3 with `member add`, and converges', { timeout: 180_000 }, async () => {
    const two = await runEtcd(nodes, mirror, nodesConfig(nodes, mirror, ['node1', 'node2'], true))
    expect(two.result.changed).toBeGreaterThan(0)
    const members = await onNode(nodes, 'node1', etcdctlArgs('node1', endpointsOf(nodes, ['node1']), 'member', 'list'))
    expect(members.trim().split('\n')).toHaveLength(2)
    const caBefore = await onNode(nodes, 'node1', ['sha256sum', `${SSL}/ca.pem`])
    const memberCertBefore = await onNode(nodes, 'node1', ['sha256sum', `${SSL}/member-node1.pem`])
    const pids = await Promise.all(['node1', 'node2'].map((name) => mainPid(nodes, name)))

    const three = nodesConfig(nodes, mirror, ALL, true)
    const joined = await runEtcd(nodes, mirror, three)
    console.log(`etcd module, node3 joining: ${joined.ms} ms`)
    const joinTask = joined.events.filter((e) => e.type === 'task-end' && e.task === 'join new members')
    expect(joinTask).toEqual([expect.objectContaining({ host: 'node3', status: 'changed' })])
    for (const name of ALL) {
      const list = (await onNode(nodes, name, etcdctlArgs(name, endpointsOf(nodes), 'member', 'list'))).trim().split('\n')
      expect(list).toHaveLength(3)
      expect(list.every((line) => line.includes(', started, '))).toBe(true)
    }
    expect(await onNode(nodes, 'node3', ['sha256sum', `${SSL}/ca.pem`])).toBe(caBefore)
    expect(await onNode(nodes, 'node1', ['sha256sum', `${SSL}/ca.pem`])).toBe(caBefore)
    expect(await onNode(nodes, 'node1', ['sha256sum', `${SSL}/member-node1.pem`])).toBe(memberCertBefore)
    // node1 and node2 got node3's new certificates, which they do not read: no restart needed.
    expect(await Promise.all(['node1', 'node2'].map((name) => mainPid(nodes, name)))).toEqual(pids)
    expect(await onNode(nodes, 'node3', ['grep', '^ETCD_INITIAL_CLUSTER_STATE=', '/etc/etcd.env'])).toBe('ETCD_INITIAL_CLUSTER_STATE=existing\n')

  })

  it('rolls a settings change through the running members one at a time, each healthy before the next', { timeout: 150_000 }, async () => {
    const config = nodesConfig(nodes, mirror, ALL, true)
    config.etcd.extra.heartbeatInterval = 300
    const pids = await Promise.all(ALL.map((name) => mainPid(nodes, name)))
    const rolled = await runEtcd(nodes, mirror, config)
    const restarts = rolled.events.filter((e) => e.type === 'task-end' && e.task === 'restart changed members')
    expect(restarts.map((e) => e.type === 'task-end' && [e.host, e.status])).toEqual(ALL.map((name) => [name, 'changed']))
    const newPids = await Promise.all(ALL.map((name) => mainPid(nodes, name)))
    newPids.forEach((pid, i) => expect(pid).not.toBe(pids[i]))
    for (const name of ALL) {
      expect(await onNode(nodes, name, ['grep', '^ETCD_HEARTBEAT_INTERVAL=', '/etc/etcd.env'])).toBe('ETCD_HEARTBEAT_INTERVAL=300\n')
    }
    // The joined member keeps its bootstrap settings: etcd reads them only with an empty data directory.
    expect(await onNode(nodes, 'node3', ['grep', '^ETCD_INITIAL_CLUSTER_STATE=', '/etc/etcd.env'])).toBe('ETCD_INITIAL_CLUSTER_STATE=existing\n')
    const health = await nodes.exec('node1', etcdctlArgs('node1', endpointsOf(nodes), 'endpoint', 'health'))
    expect(health.code, health.stderr).toBe(0)

    const again = await runEtcd(nodes, mirror, config)
    expect(again.result.changed).toBe(0)
    expect(again.bytesUploaded).toBe(0)
  })
})
