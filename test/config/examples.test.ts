import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.js'

const example = (name: string) => loadConfig(resolve(import.meta.dirname, '../../examples', name), { env: {} })

describe('examples/', () => {
  it('all-in-one.yaml: one host with every role, containerd, Kubernetes v1.30', () => {
    const { config } = example('all-in-one.yaml')
    expect(config.hosts.map((host) => [host.name, host.roles])).toEqual([['node1', ['etcd', 'control-plane', 'worker']]])
    expect(config.kubernetes).toMatchObject({ containerManager: 'containerd', containerManagerDefaulted: false })
    expect(config.kubernetes.version).toMatch(/^v1\.30\.\d+$/)
  })

  it('ha-haproxy.yaml: three control planes and three workers from host ranges, behind haproxy', () => {
    const { config } = example('ha-haproxy.yaml')
    expect(config.roleGroups).toEqual({
      etcd: ['master1', 'master2', 'master3'],
      'control-plane': ['master1', 'master2', 'master3'],
      worker: ['worker1', 'worker2', 'worker3'],
    })
    expect(config.controlPlaneEndpoint).toMatchObject({ internalLoadbalancer: 'haproxy', address: '' })
  })

  it('docker-cri-dockerd.yaml: docker on a Kubernetes version without dockershim', () => {
    const { config, notices } = example('docker-cri-dockerd.yaml')
    expect(config.kubernetes).toMatchObject({ version: 'v1.26.13', containerManager: 'docker', containerManagerDefaulted: false })
    expect(config.roleGroups.worker).toEqual(['node2', 'node3'])
    expect(notices).toEqual([])
  })
})
