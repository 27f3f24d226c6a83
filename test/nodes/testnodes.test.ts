import { existsSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestNodes, testNodesSkipReason, type TestNodes } from './testnodes.js'

const skip = await testNodesSkipReason()

describe.skipIf(skip)('test nodes (design.md §5)', () => {
  let nodes: TestNodes
  let bootMs = 0

  beforeAll(async () => {
    const started = Date.now()
    nodes = await startTestNodes({ count: 2 })
    bootMs = Date.now() - started
  })
  afterAll(async () => {
    await nodes?.stop()
  })

  const inNode = async (name: string, script: string) => {
    const result = await nodes.exec(name, ['sh', '-c', script])
    return result.stdout.trim()
  }

  it('boots with systemd as PID 1 and sshd started by it', async () => {
    expect(nodes.init).toBe('systemd')
    expect(await inNode('node1', 'cat /proc/1/comm')).toBe('systemd')
    expect(await inNode('node1', 'systemctl is-active ssh')).toBe('active')
    expect(await inNode('node1', 'hostname')).toBe('node1')
    expect(bootMs).toBeLessThan(60_000)
  })

  it('does not start the host\'s own services (docker, containerd, etcd...)', async () => {
    expect(await inNode('node1', 'systemctl is-active containerd docker etcd postgresql 2>&1 | sort -u')).toBe('inactive')
    expect(await inNode('node1', 'systemctl list-units --state=failed --no-legend | wc -l')).toBe('0')
  })

  it('keeps each node\'s files to itself (copy-on-write overlays, private /tmp)', async () => {
    await inNode('node1', 'echo mine > /etc/kk-only-node1 && echo t > /tmp/kk-tmp && mkdir -p /var/lib/containerd/x')
    expect(await inNode('node1', 'cat /etc/kk-only-node1')).toBe('mine')
    expect(await inNode('node2', 'test -e /etc/kk-only-node1 && echo seen || echo absent')).toBe('absent')
    expect(await inNode('node2', 'test -e /tmp/kk-tmp && echo seen || echo absent')).toBe('absent')
    expect(existsSync('/etc/kk-only-node1')).toBe(false)
    expect(await inNode('node2', 'test -e /var/lib/containerd/x && echo seen || echo absent')).toBe('absent')
  })

  it('gives containerd and docker real directories, not overlayfs', async () => {
    const types = (await inNode('node1', 'stat -f -c %T /var/lib/containerd /var/lib/docker /etc')).split('\n')
    expect(types[2]).toBe('overlayfs')
    expect(types.slice(0, 2).filter((t) => t === 'overlayfs')).toEqual([])
  })

  it('has its own address on the bridge and no route out', async () => {
    expect(await inNode('node1', 'ip -4 -o addr show eth0 | awk \'{print $4}\'')).toBe(`${nodes.node('node1').address}/24`)
    expect(await inNode('node1', 'ip route show default')).toBe('')
    expect(await inNode('node1', `timeout 5 bash -c '</dev/tcp/${nodes.node('node2').address}/22' && echo ok`)).toBe('ok')
    expect(await inNode('node1', 'cat /etc/resolv.conf')).toBe('')
  })

  it('kills a node through its PID 1 and restarts it on the same disk state', async () => {
    await inNode('node2', 'echo kept > /srv/state')
    await nodes.kill('node2')
    expect((await nodes.exec('node2', ['true']).catch(() => ({ code: -1 }))).code).not.toBe(0)
    await nodes.restart('node2')
    expect(await inNode('node2', 'cat /srv/state')).toBe('kept')
  })
})
