import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { renderHaproxyConfig, renderHaproxyManifest } from '../../src/modules/lb-haproxy.js'
import { kubeVipKubeconfig, renderKubeVipManifest } from '../../src/modules/lb-kube-vip.js'
import { kubeadmInit } from '../../src/modules/kubeadm-init.js'
import { loadBalancer } from '../../src/modules/load-balancer.js'
import type { TaskContext } from '../../src/pipeline/types.js'
import type { PlanContext } from '../../src/plan/types.js'
import { makeConfig } from '../plan/make-config.js'

interface PodSpec {
  spec: {
    hostNetwork: boolean
    containers: Array<{ image: string; env?: Array<{ name: string; value: string }> }>
    volumes: Array<{ hostPath: { path: string } }>
  }
  metadata: { annotations?: Record<string, string> }
}

describe('haproxy', () => {
  const config = makeConfig({ controlPlanes: 3, workers: 2, internalLoadbalancer: 'haproxy' })

  it('listens on loopback at the endpoint port and lists every apiserver with a health check', () => {
    const cfg = renderHaproxyConfig(config)
    expect(cfg).toMatch(/^\s+bind 127\.0\.0\.1:6443$/m)
    const servers = cfg.split('\n').filter((line) => line.trim().startsWith('server '))
    expect(servers).toEqual(['node1', 'node2', 'node3'].map((name, i) =>
      `  server ${name} 10.0.0.${i + 1}:6443 check check-ssl verify none`))
    expect(cfg).toMatch(/option httpchk GET \/healthz/)
  })

  it('the static pod carries the config checksum, so a changed config recreates it', () => {
    const cfg = renderHaproxyConfig(config)
    const pod = parse(renderHaproxyManifest(config, cfg)) as PodSpec
    const other = parse(renderHaproxyManifest(config, `${cfg}# changed\n`)) as PodSpec
    expect(pod.spec.hostNetwork).toBe(true)
    expect(pod.metadata.annotations?.['cfg-checksum']).not.toEqual(other.metadata.annotations?.['cfg-checksum'])
    expect(pod.spec.volumes[0].hostPath.path).toBe('/etc/kubekey/haproxy')
  })

  it('pulls its image from the private registry when one is set', () => {
    const privateConfig = { ...config, registry: { ...config.registry, privateRegistry: 'https://reg.local:5000/' } }
    const pod = parse(renderHaproxyManifest(privateConfig, renderHaproxyConfig(privateConfig))) as PodSpec
    expect(pod.spec.containers[0].image).toBe('reg.local:5000/library/haproxy:2.9.6-alpine')
  })

  it('runs on workers that are not control planes', () => {
    const mixed = makeConfig({ controlPlanes: 2, workers: 1, internalLoadbalancer: 'haproxy' })
    const ctx = { config: mixed, hostsWithRole: (...roles: string[]) => mixed.hosts.filter((h) => h.roles.some((r) => roles.includes(r))) }
    expect(loadBalancer.hosts(ctx as never).map((h) => h.name)).toEqual(['node3'])
  })
})

describe('kube-vip', () => {
  const config = makeConfig({ controlPlanes: 3, internalLoadbalancer: 'kube-vip' })
  const withVip = { ...config, controlPlaneEndpoint: { ...config.controlPlaneEndpoint, address: '10.0.0.100' } }

  it('announces the configured VIP by ARP on the detected interface', () => {
    const pod = parse(renderKubeVipManifest(withVip, 'ens3', '/etc/kubernetes/admin.conf')) as PodSpec
    const env = Object.fromEntries(pod.spec.containers[0].env!.map((e) => [e.name, e.value]))
    expect(env).toMatchObject({ address: '10.0.0.100', vip_arp: 'true', vip_interface: 'ens3', port: '6443', cp_enable: 'true' })
    expect(pod.spec.hostNetwork).toBe(true)
  })

  it('refuses a missing VIP and names the field', () => {
    expect(() => renderKubeVipManifest(config, 'ens3', '/etc/kubernetes/admin.conf')).toThrow(/controlPlaneEndpoint\.address/)
  })

  it('the first control plane of 1.29+ reads super-admin.conf, every other admin.conf', () => {
    expect(kubeVipKubeconfig(29, true)).toBe('/etc/kubernetes/super-admin.conf')
    expect(kubeVipKubeconfig(29, false)).toBe('/etc/kubernetes/admin.conf')
    expect(kubeVipKubeconfig(28, true)).toBe('/etc/kubernetes/admin.conf')
  })

  it('refuses an interface name that is not one', () => {
    expect(() => renderKubeVipManifest(withVip, 'eth0\n- evil', '/etc/kubernetes/admin.conf')).toThrow(/interface/)
  })

  /** A first control plane whose files are a map; commands other than cat/test/ip succeed silently. */
  function fakeHost(config: typeof withVip, files: Record<string, string>) {
    const host = config.hosts[0]
    const commands: string[] = []
    const t = {
      host, config, shared: new Map(), module: 'load-balancer',
      exec: async (command: { text: string }) => {
        commands.push(command.text)
        const cat = /^cat (\S+)$/.exec(command.text)
        if (cat) return files[cat[1]] === undefined ? { code: 1, stdout: '', stderr: 'No such file' } : { code: 0, stdout: files[cat[1]], stderr: '' }
        const test = /^test -f (\S+)$/.exec(command.text)
        if (test) return { code: files[test[1]] === undefined ? 1 : 0, stdout: '', stderr: '' }
        if (/^ip -o addr show/.test(command.text)) return { code: 0, stdout: `2: ens3    inet ${host.internalAddress}/24 brd 10.0.0.255 scope global ens3\n`, stderr: '' }
        return { code: 0, stdout: '', stderr: '' }
      },
      upload: async (local: string, remote: string) => {
        const content = readFileSync(local, 'utf8')
        const changed = files[remote] !== content
        files[remote] = content
        commands.push(`upload ${remote}`)
        return { changed, bytes: content.length }
      },
      secret: () => {}, warn: () => {}, log: () => {}, changed: () => {},
    } as unknown as TaskContext
    const ctx = { config, pipeline: 'create', firstControlPlane: host, hostsWithRole: (...roles: string[]) => config.hosts.filter((h) => h.roles.some((r) => roles.includes(r))) } as unknown as PlanContext
    return { t, ctx, commands }
  }
  const v129 = { ...withVip, kubernetes: { ...withVip.kubernetes, version: 'v1.29.15' } }
  const volumePath = (manifest: string) => (parse(manifest) as PodSpec).spec.volumes[0].hostPath.path

  it('1.29+: after kubeadm init the first control plane\'s kube-vip reads admin.conf again, not super-admin.conf', async () => {
    const files: Record<string, string> = { '/etc/kubernetes/manifests/kube-vip.yaml': renderKubeVipManifest(v129, 'ens3', '/etc/kubernetes/super-admin.conf') }
    const { t, ctx, commands } = fakeHost(v129, files)
    const after = kubeadmInit.tasks!(ctx).filter((task) => /kube-vip reads admin.conf/.test(task.name))
    expect(after.map((task) => task.name)).toHaveLength(1)
    for (const task of after) await task.run(t)
    expect(volumePath(files['/etc/kubernetes/manifests/kube-vip.yaml'])).toBe('/etc/kubernetes/admin.conf')
    // then the API server is awaited at the VIP (admin.conf's server) before the joins dial it
    const upload = commands.indexOf('upload /etc/kubernetes/manifests/kube-vip.yaml')
    expect(commands.slice(upload + 1).some((c) => /--kubeconfig \/etc\/kubernetes\/admin\.conf .*get --raw \/healthz/.test(c))).toBe(true)
    // a second run finds admin.conf in the manifest and changes nothing
    const again = commands.length
    for (const task of after) await task.run(t)
    expect(commands.slice(again).filter((c) => c.startsWith('upload'))).toEqual([])
    // below 1.29 there is nothing to switch back
    expect(kubeadmInit.tasks!(fakeHost(withVip, {}).ctx).filter((task) => /kube-vip reads admin.conf/.test(task.name))).toEqual([])
  })

  it('1.29+: a rerun on an initialised first control plane writes kube-vip with admin.conf, a fresh one with super-admin.conf', async () => {
    const fresh: Record<string, string> = {}
    const first = fakeHost(v129, fresh)
    for (const task of loadBalancer.tasks!(first.ctx)) await task.run(first.t)
    expect(volumePath(fresh['/etc/kubernetes/manifests/kube-vip.yaml'])).toBe('/etc/kubernetes/super-admin.conf')

    const initialised: Record<string, string> = { '/etc/kubernetes/admin.conf': 'kubeconfig' }
    const rerun = fakeHost(v129, initialised)
    for (const task of loadBalancer.tasks!(rerun.ctx)) await task.run(rerun.t)
    expect(volumePath(initialised['/etc/kubernetes/manifests/kube-vip.yaml'])).toBe('/etc/kubernetes/admin.conf')
  })
})
