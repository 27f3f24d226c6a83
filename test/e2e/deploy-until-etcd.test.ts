/**
 * The CLI as users run it (the bundle in dist/), deploying onto three real SSH test nodes up to etcd:
 * precheck → configure-os → sync-binaries → containerd → etcd, with real containerd, runc, CNI plugins and
 * etcd from Debian served by a local mirror (kubeadm/kubelet/kubectl/crictl are test doubles, only copied).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { runCli, type ProcessResult } from '../support/bundle.js'
import { writeClusterFile } from './cluster.js'
import { ConnectionPool } from '../../src/nodes/connect.js'
import { hostFor } from '../nodes/fixture.js'

const skip = await testNodesSkipReason()

describe.skipIf(skip)('kk-action deploy --until etcd on 3 test nodes (containerd)', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  let server: MirrorServer
  let dir: string
  let file: string
  const timings: Record<string, number> = {}

  const deploy = async (config: string, ...extra: string[]): Promise<ProcessResult & { logs: string }> => {
    const started = Date.now()
    const logs = join(dir, `logs-${Object.keys(timings).length}`)
    const result = await runCli([
      'deploy', '-f', config, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url,
      '--checksums', mirror.checksumsFile, '--artifacts-dir', join(dir, 'artifacts'), '--logs', logs, ...extra,
    ], { timeoutMs: 600_000 })
    timings[`${extra.join(' ')} #${Object.keys(timings).length + 1}`] = Date.now() - started
    return { ...result, logs }
  }
  const onNode = async (name: string, command: string) => nodes.exec(name, ['sh', '-c', command])

  beforeAll(async () => {
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 3, prefix: 'kke2e' }), buildMirror()])
    server = await serveMirror(mirror.root)
    dir = mkdtempSync(join(tmpdir(), 'kk-e2e-'))
    file = writeClusterFile(dir, nodes, mirror)
  }, 300_000)
  afterAll(async () => {
    console.log(`deploy wall times (ms): ${JSON.stringify(timings)}`)
    await server?.close()
    await nodes?.stop()
  })

  describe('precheck names the failing host before anything changes', () => {
    it('an arch mismatch', { timeout: 120_000 }, async () => {
      const wrongArch = join(dir, 'arm64.yaml')
      writeFileSync(wrongArch, readFileSync(file, 'utf8')
        .replace(`name: ${nodes.nodes[1].name}, address: ${nodes.nodes[1].address},`, `name: ${nodes.nodes[1].name}, arch: arm64, address: ${nodes.nodes[1].address},`))
      const result = await deploy(wrongArch, '--until', 'precheck')
      expect(result.status, result.stderr).toBe(1)
      expect(result.stderr).toMatch(new RegExp(`${nodes.nodes[1].name}: task "machine arch matches the config": host ${nodes.nodes[1].name}: spec\\.hosts\\[1\\]\\.arch: the config says arch arm64 but the machine is x86_64 \\(amd64\\)`))
      expect(result.stderr).not.toMatch(new RegExp(`${nodes.nodes[0].name}: task`))
    })

    it('a missing conntrack, with the install command', { timeout: 120_000 }, async () => {
      const node = nodes.nodes[2].name
      await onNode(node, 'mv /usr/sbin/conntrack /usr/sbin/conntrack.hidden')
      try {
        const result = await deploy(file, '--until', 'precheck')
        expect(result.status).toBe(1)
        // dpkg still lists conntrack (only its binary is gone): apt-get has nothing to install, and precheck says so.
        expect(result.stderr).toContain(`${node}: task "required commands": host ${node}: missing command(s): conntrack (kubeadm v1.30.1 preflight fails without it); ` +
          'apt-get install -y conntrack succeeded, but conntrack is still not on PATH. Install them (apt-get install -y conntrack)')
      } finally {
        await onNode(node, 'mv /usr/sbin/conntrack.hidden /usr/sbin/conntrack')
      }
    })

    it('port 2379 taken, naming the process that holds it', { timeout: 120_000 }, async () => {
      const node = nodes.nodes[0].name
      await onNode(node, 'systemd-run --unit kk-squatter socat TCP-LISTEN:2379,fork,reuseaddr /dev/null')
      try {
        const result = await deploy(file, '--until', 'precheck')
        expect(result.status).toBe(1)
        expect(result.stderr).toMatch(new RegExp(`${node}: task "ports are free": host ${node}: port\\(s\\) already in use: 2379 by socat \\(pid \\d+\\)`))
        // the logs directory holds the events, the failing host's log and its diagnostics
        expect(readFileSync(join(result.logs, 'events.ndjson'), 'utf8')).toContain('"status":"failed"')
        expect(readFileSync(join(result.logs, 'hosts', node, 'precheck.log'), 'utf8')).toContain('ss -Hltnp')
        expect(readFileSync(join(result.logs, 'hosts', node, 'diagnostics.log'), 'utf8')).toMatch(/journalctl|systemctl/)
      } finally {
        await onNode(node, 'systemctl stop kk-squatter')
      }
    })
  })

  describe('deploy up to etcd', () => {
    let first: ProcessResult
    beforeAll(async () => {
      first = await deploy(file, '--until', 'etcd')
    }, 600_000)

    it('succeeds, with containerd active and running a container on every node', async () => {
      expect(first.status, first.stderr.slice(-4000)).toBe(0)
      expect(first.stderr).toContain('--- cri-dockerd: skipped, kubernetes.containerManager is containerd')
      // The image goes over SSH: a node's /tmp is its own, and the checkout may live anywhere.
      const pool = new ConnectionPool({ hostKeyPolicy: 'strict', knownHostsPath: nodes.knownHostsPath })
      try {
        for (const { name } of nodes.nodes) await (await pool.get(hostFor(nodes, name, 'root'))).upload(mirror.image.tar, '/root/kk-busybox.tar')
      } finally {
        await pool.closeAll()
      }
      for (const { name } of nodes.nodes) {
        expect((await onNode(name, 'systemctl is-active containerd')).stdout.trim()).toBe('active')
        const ran = await onNode(name, [
          'ctr -n k8s.io image import /root/kk-busybox.tar >/dev/null',
          `ctr -n k8s.io run --rm ${mirror.image.name} kk-e2e-${name} /bin/busybox echo hello-from-${name}`,
        ].join(' && '))
        expect(ran.stdout, ran.stderr).toContain(`hello-from-${name}`)
      }
    })

    it('forms a healthy 3-member etcd cluster over TLS', async () => {
      const name = nodes.nodes[0].name
      const tls = `--cacert /etc/ssl/etcd/ssl/ca.pem --cert /etc/ssl/etcd/ssl/admin-${name}.pem --key /etc/ssl/etcd/ssl/admin-${name}-key.pem`
      const endpoints = nodes.nodes.map((n) => `https://${n.address}:2379`).join(',')
      const members = await onNode(name, `ETCDCTL_API=3 etcdctl ${tls} --endpoints ${endpoints} member list`)
      expect(members.stdout.trim().split('\n'), members.stderr).toHaveLength(3)
      const health = await onNode(name, `ETCDCTL_API=3 etcdctl ${tls} --endpoints ${endpoints} endpoint health`)
      expect((health.stdout + health.stderr).match(/is healthy/g), health.stderr).toHaveLength(3)
    })

    it('never ran cri-dockerd: no cri-dockerd file or unit exists on any node', async () => {
      for (const { name } of nodes.nodes) {
        const found = await onNode(name, 'ls /usr/local/bin/cri-dockerd /etc/systemd/system/cri-docker.service /etc/systemd/system/cri-docker.socket 2>/dev/null; true')
        expect(found.stdout).toBe('')
      }
      expect(server.requests.filter((r) => /cri-dockerd|docker-\d/.test(r.path))).toEqual([])
    })

    it('a second deploy changes nothing and uploads zero bytes', async () => {
      const again = await deploy(file, '--until', 'etcd')
      expect(again.status, again.stderr.slice(-4000)).toBe(0)
      expect(again.stderr).toContain('deploy finished: 0 change(s), 0 byte(s) uploaded')
      expect(again.stderr).not.toMatch(/ changed +\d/)
      expect(again.stderr).toMatch(/<== etcd: ok in .*, 0 changed/)
    }, 600_000)
  })
})
