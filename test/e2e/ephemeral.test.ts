/**
 * `nodes: ephemeral`: the bundled CLI run inside a test node deploys onto that node through the local
 * connection (up to etcd: containerd active, a healthy single-member etcd), never contacting the config's
 * hosts; `delete --nodes ephemeral` (what the post step's cleanup runs) removes it again.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runnerNodeName } from '../../src/config/ephemeral.js'
import { buildMirror, DEFAULT_OUT_DIR, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNode, type TestNodes } from '../nodes/testnodes.js'
import { repoRoot } from '../support/bundle.js'
import { ConnectionPool } from '../../src/nodes/connect.js'
import { sh } from '../../src/nodes/quote.js'
import { hostFor } from '../nodes/fixture.js'
import { writeClusterFile } from './cluster.js'

const skip = await testNodesSkipReason()

describe.skipIf(skip)('kk-action deploy --nodes ephemeral inside a test node', () => {
  let nodes: TestNodes
  let node: TestNode
  let mirror: MirrorBuild
  let server: MirrorServer
  let file: string
  let dir: string

  // The bundle, the config and the checksums are copied into the node over SSH (its /tmp is its own, and the
  // checkout may live anywhere); the CLI then runs there as on a runner.
  const IN_NODE = '/root/kk-ephemeral'
  const cliInNode = (command: 'deploy' | 'delete', ...extra: string[]) => nodes.exec(node.name, [
    process.execPath, `${IN_NODE}/cli/index.js`, command, '--nodes', 'ephemeral', '-f', `${IN_NODE}/cluster.yaml`,
    '--mirror', server.url, '--checksums', `${IN_NODE}/checksums.json`, '--artifacts-dir', '/var/tmp/kk-artifacts', ...extra,
  ])
  const onNode = (command: string) => nodes.exec(node.name, ['sh', '-c', command])

  beforeAll(async () => {
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 1, prefix: 'kkeph' }), buildMirror()])
    node = nodes.nodes[0]
    // The node's only way out is the bridge: the mirror listens there.
    server = await serveMirror(mirror.root, 0, nodes.bridgeAddress)
    mkdirSync(DEFAULT_OUT_DIR, { recursive: true })
    dir = mkdtempSync(join(DEFAULT_OUT_DIR, '..', 'ephemeral-'))
    // The config's one host is a loopback address nothing listens on: contacting it would fail the deploy.
    const elsewhere = { ...node, name: 'not-contacted', address: '127.0.0.2' }
    file = writeClusterFile(dir, { ...nodes, nodes: [elsewhere] }, mirror)
    const pool = new ConnectionPool({ hostKeyPolicy: 'strict', knownHostsPath: nodes.knownHostsPath })
    try {
      const connection = await pool.get(hostFor(nodes, node.name, 'root'))
      for (const [local, remote] of [
        [join(repoRoot, 'dist/cli/index.js'), 'cli/index.js'], [join(repoRoot, 'dist/cli/package.json'), 'cli/package.json'],
        [file, 'cluster.yaml'], [mirror.checksumsFile, 'checksums.json'],
      ]) {
        await connection.exec(sh`mkdir -p ${`${IN_NODE}/cli`}`)
        await connection.upload(local, `${IN_NODE}/${remote}`)
      }
    } finally {
      await pool.closeAll()
    }
  }, 300_000)
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('deploys containerd and a healthy single-member etcd onto the node it runs on', { timeout: 900_000 }, async () => {
    const deployed = await cliInNode('deploy', '--until', 'etcd')
    expect(deployed.code, deployed.stderr.slice(-4000)).toBe(0)
    expect(deployed.stderr).not.toContain('not-contacted')
    expect((await onNode('systemctl is-active containerd etcd')).stdout.split('\n').filter(Boolean)).toEqual(['active', 'active'])
    const member = runnerNodeName(node.name)
    const tls = `--cacert /etc/ssl/etcd/ssl/ca.pem --cert /etc/ssl/etcd/ssl/admin-${member}.pem --key /etc/ssl/etcd/ssl/admin-${member}-key.pem`
    const endpoint = `--endpoints https://${node.address}:2379`
    const members = await onNode(`ETCDCTL_API=3 /usr/local/bin/etcdctl ${tls} ${endpoint} member list`)
    expect(members.stdout.trim().split('\n'), members.stderr).toHaveLength(1)
    expect(members.stdout).toContain(`etcd-${member}`)
    const health = await onNode(`ETCDCTL_API=3 /usr/local/bin/etcdctl ${tls} ${endpoint} endpoint health`)
    expect(health.stdout + health.stderr).toContain('is healthy')
  })

  it('delete --nodes ephemeral (the post step\'s cleanup) removes it from the node, also when an older kk-action (no records, no marks on binaries and units) deployed it', { timeout: 900_000 }, async () => {
    // What an older kk-action left: its artifacts and the config marks, no machine records, no binary or unit marks.
    const older = await onNode('rm -rf /var/lib/kk-action/machine /var/lib/kk-action/taken-over/usr /var/lib/kk-action/taken-over/opt /var/lib/kk-action/taken-over/etc/systemd && ls /var/lib/kk-action')
    expect(older.stdout).toContain('artifacts')
    const deleted = await cliInNode('delete')
    expect(deleted.code, deleted.stderr.slice(-4000)).toBe(0)
    const active = await onNode('systemctl is-active containerd etcd')
    expect(active.stdout.split('\n').filter(Boolean)).not.toContain('active')
    // /etc/containerd and /var/lib/etcd stay: the host's packages made them before (the node's lower layer).
    const left = await onNode('ls -d /usr/local/bin/etcd /usr/local/bin/kubeadm /usr/local/bin/containerd /etc/ssl/etcd /etc/etcd.env /var/lib/kk-action 2>/dev/null; ls -A /var/lib/etcd; true')
    expect(left.stdout).toBe('')
  })
})
