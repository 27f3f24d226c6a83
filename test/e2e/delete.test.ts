/**
 * `kk-action delete` after a whole deploy on 2 test nodes (containerd, etcd kubekey, calico; kubeadm,
 * kubelet, kubectl, helm and calicoctl are the test doubles, the smoke test is skipped): every node's
 * filesystem is back to what it was before the deploy, judged on the overlay's upper directories (what
 * the node wrote over the host's files: a crictl.yaml and a CNI config of the machine's own are still there), and
 * a second delete changes nothing.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, type Stats } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNode, type TestNodes } from '../nodes/testnodes.js'
import { runCli, type ProcessResult } from '../support/bundle.js'
import { writeClusterFile } from './cluster.js'

const skip = await testNodesSkipReason()

// Files a node writes whatever kk-action does: the journal and logs, systemd's own state (random seed,
// timer stamps, unit invocation records), caches. Their change says nothing about what delete left.
// The doubles' own records (var/lib/kk-doubles) are what a real kubeadm or helm would keep in the cluster.
const NOISE = [/^var\/log\//, /^var\/lib\/systemd\//, /^var\/cache\//, /^var\/tmp\//, /^var\/lib\/apt\//, /^root\/\.cache\//,
  /^var\/lib\/kk-doubles(\/|$)/]

type Snapshot = Map<string, string>

function describeEntry(path: string, stats: Stats): string {
  if (stats.isCharacterDevice() && stats.rdev === 0) return 'absent' // an overlay whiteout
  if (stats.isDirectory()) return 'dir'
  if (stats.isSymbolicLink()) return `link ${readlinkSync(path)}`
  if (stats.isFile()) return `file ${(stats.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`
  return `other ${stats.mode.toString(8)}`
}

/** What the host (the overlay's lower layer) has at a node path. */
function lowerEntry(path: string): string {
  try {
    return describeEntry(`/${path}`, lstatSync(`/${path}`))
  } catch {
    return 'absent'
  }
}

async function snapshot(node: TestNode): Promise<Snapshot> {
  const listed = await promisify(execFile)('find', [node.upperDir, '-mindepth', '1', '-printf', '%P\\n'], { maxBuffer: 64 << 20 })
  const paths = listed.stdout.split('\n').filter((p) => p && !NOISE.some((n) => n.test(p)))
  return new Map(paths.map((p) => [p, describeEntry(join(node.upperDir, p), lstatSync(join(node.upperDir, p)))]))
}

/** Paths whose content, as the node sees it, differs between two snapshots (the lower layer fills the gaps). */
function differences(before: Snapshot, after: Snapshot): string[] {
  const paths = new Set([...before.keys(), ...after.keys()])
  return [...paths].sort().flatMap((p) => {
    const was = before.get(p) ?? lowerEntry(p)
    const is = after.get(p) ?? lowerEntry(p)
    return was === is ? [] : [`${p}: ${was.slice(0, 20)} -> ${is.slice(0, 20)}`]
  })
}

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
