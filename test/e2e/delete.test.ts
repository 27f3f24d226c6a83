/**
 * `kk-action delete` after a whole deploy on 2 test nodes (containerd, etcd kubekey, calico; kubeadm,
 * kubelet, kubectl, helm and calicoctl are the test doubles, the smoke test is skipped): every node's
 * filesystem is back to what it was before the deploy, judged on the overlay's upper directories (what
 * the node wrote over the host's files: a crictl.yaml and a CNI config of the machine's own are still there), and
 * a second delete changes nothing.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { differences, snapshot, type Snapshot } from '../support/overlay.js'
import { runCli, type ProcessResult } from '../support/bundle.js'
import { writeClusterFile } from './cluster.js'
import { preparePlan } from '../../src/core.js'
import { silentLogger } from '../../src/log.js'
import { renderDrift } from '../modules/rendered-on-node.js'

const skip = await testNodesSkipReason()

describe.skipIf(skip)('kk-action delete after a whole deploy on 2 test nodes', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  let server: MirrorServer
  let dir: string
  let file: string
  const before = new Map<string, Snapshot>()

  const cli = (command: 'deploy' | 'delete', ...extra: string[]): Promise<ProcessResult> => runCli([
    command, '-f', file, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url,
    '--checksums', mirror.checksumsFile, '--artifacts-dir', join(dir, 'artifacts'), ...extra,
  ], { timeoutMs: 600_000 })
  const onNode = (name: string, command: string) => nodes.exec(name, ['sh', '-c', command])
  const snapshots = async () => new Map(await Promise.all(nodes.nodes.map(async (n) => [n.name, await snapshot(n)] as const)))

  beforeAll(async () => {
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 2, prefix: 'kkdel' }), buildMirror()])
    server = await serveMirror(mirror.root)
    dir = mkdtempSync(join(tmpdir(), 'kk-delete-'))
    file = writeClusterFile(dir, nodes, mirror, { controlPlanes: 1, network: '    plugin: calico' })
    // A machine's own crictl.yaml, which the runtime module writes over: delete must put it back.
    await onNode(nodes.nodes[1].name, 'printf "runtime-endpoint: unix:///run/mine.sock\\n" > /etc/crictl.yaml')
    // The machine's own CNI config beside the plugin's: delete removes only the files the network plugin writes.
    await onNode(nodes.nodes[0].name, 'mkdir -p /etc/cni/net.d && printf \'{"cniVersion": "0.4.0", "name": "mine", "plugins": [{"type": "loopback"}]}\\n\' > /etc/cni/net.d/99-mine.conflist')
    for (const [name, snap] of await snapshots()) before.set(name, snap)
    const deployed = await cli('deploy', '--skip', 'smoke-test')
    expect(deployed.status, deployed.stderr.slice(-4000)).toBe(0)
  }, 900_000)
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
  })

  it('the deploy changed the nodes (so the comparison can see something)', async () => {
    for (const node of nodes.nodes) {
      expect((await onNode(node.name, 'systemctl is-active containerd etcd')).stdout.split('\n').filter(Boolean)).toEqual(['active', 'active'])
      const changed = differences(before.get(node.name)!, await snapshot(node))
      expect(changed.filter((d) => d.startsWith('usr/local/bin/etcd: absent -> file 755'))).toHaveLength(1)
      expect(changed.filter((d) => d.startsWith('etc/kubernetes/kubelet.conf: absent -> file'))).toHaveLength(1)
      // The host (the nodes' lower layer) has Debian's containerd and its config.toml: kept for delete to put back.
      if (existsSync('/etc/containerd/config.toml')) {
        const kept = await onNode(node.name, 'sha256sum < /etc/containerd/config.toml.kk-action-orig')
        expect(kept.stdout.split(' ')[0]).toBe(createHash('sha256').update(readFileSync('/etc/containerd/config.toml')).digest('hex'))
      }
    }
    expect((await onNode(nodes.nodes[1].name, 'cat /etc/crictl.yaml.kk-action-orig')).stdout).toBe('runtime-endpoint: unix:///run/mine.sock\n')
    const first = nodes.nodes[0].name
    expect((await onNode(first, 'ls /usr/local/bin/calicoctl /etc/kubekey/network')).stdout).toMatch(/calicoctl[\s\S]*calico-values\.yaml/)
  }, 120_000)

  it('render shows what the deploy wrote, kk-action\'s etcd and the kubeadm config that points at it included', async () => {
    const { plan, loaded } = await preparePlan({
      configFile: file, checksumsFile: mirror.checksumsFile, mirror: server.url, skipModules: ['smoke-test'], preview: true, logger: silentLogger,
    })
    // config.toml: restrict_oom_score_adj is the node's probe (true on test nodes), render shows an ordinary machine's.
    const drift = await renderDrift({ plan, config: loaded.config, nodes }, { except: ['/etc/containerd/config.toml'] })
    expect(drift.problems).toEqual([])
    // Per node: configure-os (3), the kubelet unit and drop-in, containerd's unit and crictl.yaml, etcd.env, its unit and
    // the backup script, service and timer; on the first control plane kubeadm-config.yaml and calico's values.
    expect(drift.compared).toBe(2 * (7 + 5) + 2)
  })

  let afterDelete: Map<string, Snapshot>
  it('delete leaves every node as it was before the deploy, with no kk-action unit active', async () => {
    const deleted = await cli('delete')
    expect(deleted.status, deleted.stderr.slice(-4000)).toBe(0)
    afterDelete = await snapshots()
    for (const node of nodes.nodes) {
      expect(differences(before.get(node.name)!, afterDelete.get(node.name)!), node.name).toEqual([])
      const units = await onNode(node.name, 'systemctl list-units --all --no-legend --plain kubelet.service containerd.service etcd.service backup-etcd.timer docker.service')
      expect(units.stdout.split('\n').filter((line) => / active /.test(line))).toEqual([])
    }
  }, 900_000)

  it('a second delete exits 0 and changes nothing', async () => {
    const again = await cli('delete')
    expect(again.status, again.stderr.slice(-4000)).toBe(0)
    expect(again.stderr).toContain('delete finished: 0 change(s)')
    for (const node of nodes.nodes) expect(differences(afterDelete.get(node.name)!, await snapshot(node)), node.name).toEqual([])
  }, 900_000)
})
