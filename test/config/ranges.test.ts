import { describe, expect, it } from 'vitest'
import { expandRoleGroupEntry } from '../../src/config/host-ranges.js'
import { clusterYaml, load } from './helpers.js'

const hostsNamed = (names: string[]) => names.map((name, index) => `  - {name: ${name}, address: 10.0.1.${index + 1}}`)

describe('host ranges in roleGroups', () => {
  it('expands node[2:10] to node2 … node10, inclusive, without zero padding', () => {
    const names = Array.from({ length: 10 }, (_, index) => `node${index + 1}`)
    const { config } = load(
      clusterYaml('  hosts:', ...hostsNamed(names), '  roleGroups:', '    etcd: [node1]', '    control-plane: [node1]', '    worker:', '    - "node[2:10]"'),
    )
    expect(config.roleGroups.worker).toEqual(['node2', 'node3', 'node4', 'node5', 'node6', 'node7', 'node8', 'node9', 'node10'])
    expect(config.hosts[9].roles).toEqual(['worker'])
  })

  it('mixes ranges and names, unquoted in block lists, with duplicates merged', () => {
    const { config } = load(
      clusterYaml(
        '  hosts:',
        ...hostsNamed(['master1', 'master2', 'master3', 'worker1', 'worker2']),
        '  roleGroups:',
        '    etcd:',
        '    - master[1:3]',
        '    master:',
        '    - master1',
        '    - master[1:3]',
        '    worker:',
        '    - worker[1:2]',
      ),
    )
    expect(config.roleGroups).toEqual({ etcd: ['master1', 'master2', 'master3'], 'control-plane': ['master1', 'master2', 'master3'], worker: ['worker1', 'worker2'] })
  })

  it('accepts a single-host range and leading zeros as plain numbers, like KubeKey', () => {
    const known = (name: string) => ['node1', 'node7'].includes(name)
    expect(expandRoleGroupEntry('node[7:7]', known)).toEqual({ names: ['node7'] })
    expect(expandRoleGroupEntry('node[01:01]', known)).toEqual({ names: ['node1'] })
  })

  it('stops at the first name that is not a host, however long the range', () => {
    expect(expandRoleGroupEntry('node[1:999999999]', (name) => name === 'node1')).toEqual({ unknownHost: 'node2' })
  })
})
