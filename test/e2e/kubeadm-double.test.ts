/**
 * The kubeadm double refuses what the real kubeadm refuses (cmd/kubeadm/app/preflight/checks.go for each
 * version; kubernetes#104942 for the manifests check dropped in 1.23), run inside an SSH test node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { renderDouble } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'

const skip = await testNodesSkipReason()
const JOIN = `apiVersion: kubeadm.k8s.io/v1beta3
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: lb.kubesphere.local:6443
    token: abcdef.0123456789abcdef
    unsafeSkipCAVerification: true
`

describe.skipIf(skip)('the kubeadm double\'s preflight and discovery', () => {
  let nodes: TestNodes
  const run = async (command: string) => nodes.exec('node1', ['sh', '-c', command])
  const install = async (version: string) => {
    await nodes.exec('node1', ['sh', '-c', `cat > /usr/local/bin/kubeadm-${version} && chmod 755 /usr/local/bin/kubeadm-${version}`], renderDouble('kubeadm', version))
  }

  beforeAll(async () => {
    nodes = await startTestNodes({ count: 1, prefix: 'kkdb' })
    await Promise.all(['v1.22.17', 'v1.23.17', 'v1.30.1', 'v1.32.0'].map(install))
    await nodes.exec('node1', ['sh', '-c', 'cat > /root/join.yaml'], JOIN)
    await run(`sysctl -w net.ipv4.ip_forward=1 >/dev/null; printf '${nodes.nodes[0].address} lb.kubesphere.local\\n' >> /etc/hosts`)
  }, 120_000)
  afterAll(async () => {
    await nodes?.stop()
  })

  it('join below 1.23 refuses a non-empty manifests directory, in kubeadm\'s format; 1.23 does not check it', async () => {
    await run('mkdir -p /etc/kubernetes/manifests && echo x > /etc/kubernetes/manifests/haproxy.yaml')
    const old = await run('kubeadm-v1.22.17 join --config /root/join.yaml')
    expect(old.code).toBe(1)
    expect(old.stderr).toContain('error execution phase preflight: [preflight] Some fatal errors occurred:\n' +
      '\t[ERROR DirAvailable--etc-kubernetes-manifests]: /etc/kubernetes/manifests is not empty\n' +
      '[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\n' +
      'To see the stack trace of this error execute with --v=5 or higher')
    const newer = await run('kubeadm-v1.23.17 join --config /root/join.yaml')
    expect(newer.stderr).not.toMatch(/DirAvailable/)
    const ignored = await run('kubeadm-v1.22.17 join --config /root/join.yaml --ignore-preflight-errors=DirAvailable--etc-kubernetes-manifests')
    expect(ignored.stderr).not.toMatch(/\[ERROR DirAvailable/)
    await run('rm -f /etc/kubernetes/manifests/haproxy.yaml')
  })

  it('join discovers through /etc/hosts and needs a listening apiserver: refused before init, reached after, refused after reset', async () => {
    const before = await run('kubeadm-v1.30.1 join --config /root/join.yaml')
    expect(before.code).toBe(1)
    expect(before.stderr).toContain(`couldn't validate the identity of the API Server: Get "https://lb.kubesphere.local:6443/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s": dial tcp ${nodes.nodes[0].address}:6443: connect: connection refused`)
    const init = await run('kubeadm-v1.30.1 init')
    expect(init.code, init.stderr).toBe(0)
    expect((await run('ss -Hltnp sport = :6443')).stdout).toMatch(/kube-apiserver/)
    // the same host's join now gets past discovery (and stops at its own kubelet.conf, which init wrote)
    await run('rm -f /etc/kubernetes/kubelet.conf')
    const after = await run('kubeadm-v1.30.1 join --config /root/join.yaml')
    expect(after.stderr).not.toMatch(/identity of the API Server/)
    const initAgain = await run('kubeadm-v1.30.1 reset -f && kubeadm-v1.30.1 init')
    expect(initAgain.code, initAgain.stderr).toBe(0)
    await run('kubeadm-v1.30.1 reset -f')
    expect((await run('ss -Hltn sport = :6443')).stdout.trim()).toBe('')
  })

  it('init refuses a port in use, a missing conntrack below 1.32 (not from 1.32), and ip_forward 0', async () => {
    const held = await run("setsid python3 -c 'import socket,time; s=socket.socket(); s.bind((\"0.0.0.0\", 10259)); s.listen(1); time.sleep(30)' >/dev/null 2>&1 & sleep 0.5; kubeadm-v1.30.1 init; s=$?; kill $!; exit $s")
    expect(held.code).toBe(1)
    expect(held.stderr).toContain('\t[ERROR Port-10259]: Port 10259 is in use')
    // a PATH whose conntrack is missing: every other command linked in
    const path = 'd=$(mktemp -d); for c in ip iptables mount nsenter ebtables ethtool socat tc touch sed awk grep cat ls mkdir rm tr head tail wc mktemp python3 hostname date od cut sha256sum openssl base64 sleep setsid cp chmod basename node; do p=$(command -v $c) && ln -s "$p" "$d/$c"; done'
    const noConntrack = await run(`${path}; PATH=$d /usr/local/bin/kubeadm-v1.30.1 init`)
    expect(noConntrack.stderr).toContain('\t[ERROR FileExisting-conntrack]: conntrack not found in system path')
    const from132 = await run(`${path}; PATH=$d /usr/local/bin/kubeadm-v1.32.0 init`)
    expect(from132.stderr).not.toMatch(/conntrack/)
    await run('kubeadm-v1.32.0 reset -f')
    const forwarding = await run('sysctl -w net.ipv4.ip_forward=0 >/dev/null; kubeadm-v1.30.1 init; s=$?; sysctl -w net.ipv4.ip_forward=1 >/dev/null; exit $s')
    expect(forwarding.stderr).toContain('\t[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1')
  })
})
