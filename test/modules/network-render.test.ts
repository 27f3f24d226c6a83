import { describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import { ciliumValues, renderCalico, renderFlannel } from '../../src/modules/network-render.js'
import { makeConfig } from '../plan/make-config.js'

// The lines of upstream calico.yaml / kube-flannel.yml the renderers change, in upstream's layout.
const CALICO = `kind: ConfigMap
apiVersion: v1
metadata:
  name: calico-config
  namespace: kube-system
data:
  calico_backend: "bird"
---
kind: DaemonSet
apiVersion: apps/v1
metadata:
  name: calico-node
spec:
  template:
    spec:
      containers:
        - name: calico-node
          env:
            - name: CALICO_IPV4POOL_IPIP
              value: "Always"
            - name: CALICO_IPV4POOL_VXLAN
              value: "Never"
            # - name: CALICO_IPV4POOL_CIDR
            #   value: "192.168.0.0/16"
`
const FLANNEL = `kind: ConfigMap
apiVersion: v1
metadata:
  name: kube-flannel-cfg
data:
  net-conf.json: |
    {
      "Network": "10.244.0.0/16",
      "Backend": {
        "Type": "vxlan"
      }
    }
`

const withNetwork = (extra: Record<string, unknown>) => {
  const config = makeConfig()
  return { ...config, network: { ...config.network, kubePodsCIDR: '10.99.0.0/16', extra } }
}

function calicoEnv(manifest: string): Record<string, string> {
  const node = parseAllDocuments(manifest)[1].toJS() as { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value: string }> }> } } } }
  return Object.fromEntries(node.spec.template.spec.containers[0].env.map((e) => [e.name, e.value]))
}

describe('calico', () => {
  it('carries the pod CIDR and KubeKey\'s default IPIP Always, VXLAN Never', () => {
    const out = renderCalico(CALICO, withNetwork({}))
    expect(calicoEnv(out)).toEqual({ CALICO_IPV4POOL_IPIP: 'Always', CALICO_IPV4POOL_VXLAN: 'Never', CALICO_IPV4POOL_CIDR: '10.99.0.0/16' })
    expect(out).toContain('calico_backend: "bird"')
  })

  it('VXLAN mode turns IPIP off in the pool and the backend to vxlan', () => {
    const out = renderCalico(CALICO, withNetwork({ calico: { ipipMode: 'Never', vxlanMode: 'Always' } }))
    expect(calicoEnv(out)).toMatchObject({ CALICO_IPV4POOL_IPIP: 'Never', CALICO_IPV4POOL_VXLAN: 'Always' })
    expect(out).toContain('calico_backend: "vxlan"')
  })

  it('refuses unknown modes and both encapsulations at once, naming the field', () => {
    expect(() => renderCalico(CALICO, withNetwork({ calico: { ipipMode: 'Sometimes' } }))).toThrow(/ipipMode/)
    expect(() => renderCalico(CALICO, withNetwork({ calico: { vxlanMode: 'Always' } }))).toThrow(/vxlanMode/)
  })

  it('a manifest without the CIDR line is an error, not a cluster on the wrong CIDR', () => {
    expect(() => renderCalico(CALICO.replace(/.*CALICO_IPV4POOL_CIDR[\s\S]*/, ''), withNetwork({}))).toThrow(/CALICO_IPV4POOL_CIDR/)
  })
})

describe('flannel', () => {
  it('carries the pod CIDR and the backend mode', () => {
    const out = renderFlannel(FLANNEL, withNetwork({ flannel: { backendMode: 'host-gw' } }))
    const netConf = JSON.parse((parse(out) as { data: Record<string, string> }).data['net-conf.json'])
    expect(netConf).toEqual({ Network: '10.99.0.0/16', Backend: { Type: 'host-gw' } })
  })
})

describe('cilium', () => {
  it('cluster-pool IPAM on the IPv4 part of a dual-stack pod CIDR', () => {
    const config = makeConfig()
    const dual = { ...config, network: { ...config.network, kubePodsCIDR: '10.99.0.0/16,fd00::/56' } }
    expect(ciliumValues(dual)).toContain('ipam.operator.clusterPoolIPv4PodCIDRList={10.99.0.0/16}')
  })
})
