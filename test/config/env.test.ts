import { describe, expect, it } from 'vitest'
import { clusterYaml, expectRejected, load, singleNode } from './helpers.js'

const hostsWith = (hostLine: string, ...extra: string[]) =>
  clusterYaml('  hosts:', hostLine, '  roleGroups:', '    etcd: [node1]', '    control-plane: [node1]', ...extra)

describe('${VAR} substitution', () => {
  it('replaces variables in any string value and registers their values as secrets', () => {
    const text = hostsWith(
      '  - {name: node1, address: "${NODE_IP}", user: "${NODE_USER}", password: "${NODE_PASSWORD}"}',
      '  registry:',
      '    privateRegistry: "registry.${DOMAIN}:5000"',
      '    auths:',
      '      "registry.example.com:5000":',
      '        username: robot',
      '        password: "${REGISTRY_TOKEN}"',
    )
    const env = { NODE_IP: '10.1.2.3', NODE_USER: 'ubuntu', NODE_PASSWORD: 'hunter2', DOMAIN: 'example.com', REGISTRY_TOKEN: 't0ken' }
    const { config, secrets } = load(text, { env })
    expect(config.hosts[0]).toMatchObject({ address: '10.1.2.3', internalAddress: '10.1.2.3', user: 'ubuntu', password: 'hunter2' })
    expect(config.registry.privateRegistry).toBe('registry.example.com:5000')
    expect(config.registry.auths['registry.example.com:5000'].password).toBe('t0ken')
    expect(secrets.sort()).toEqual(['10.1.2.3', 'example.com', 'hunter2', 't0ken', 'ubuntu'])
  })

  it('registers inline passwords and private keys as secrets too', () => {
    const { secrets } = load(hostsWith('  - {name: node1, address: 10.0.0.1, password: inline-pw, privateKey: "-----BEGIN KEY-----"}'))
    expect(secrets.sort()).toEqual(['-----BEGIN KEY-----', 'inline-pw'])
  })

  it('gives an unquoted variable the type it would have had written inline', () => {
    const text = clusterYaml('  hosts:', '  - name: node1', '    address: 10.0.0.1', '    port: ${SSH_PORT}', '  roleGroups:', '    etcd: [node1]', '    control-plane: [node1]')
    expect(load(text, { env: { SSH_PORT: '2222' } }).config.hosts[0].port).toBe(2222)
  })

  it('keeps a quoted variable a string', () => {
    const { config } = load(singleNode('  componentVersions:', '    containerd: "${CONTAINERD_VERSION}"'), { env: { CONTAINERD_VERSION: '1.7.13' } })
    expect(config.componentVersions.containerd).toBe('1.7.13')
  })

  it('validates the substituted value like a written one', () => {
    expectRejected(singleNode('  kubernetes:', '    version: ${K8S_VERSION}'), { line: 13, column: 14, field: 'spec.kubernetes.version', says: ['"1.29.0" lacks the leading "v"'] }, { env: { K8S_VERSION: '1.29.0' } })
  })

  it('reads process.env when no env is given', () => {
    process.env.KK_ACTION_TEST_NODE_IP = '10.9.9.9'
    try {
      const text = hostsWith('  - {name: node1, address: "${KK_ACTION_TEST_NODE_IP}"}')
      expect(load(text, { env: undefined }).config.hosts[0].address).toBe('10.9.9.9')
    } finally {
      delete process.env.KK_ACTION_TEST_NODE_IP
    }
  })

  it('leaves $${VAR} as a literal ${VAR}', () => {
    const { config, secrets } = load(singleNode('  kubernetes:', '    kubeletArgs: ["--node-labels=team=$${TEAM}"]'), { env: { TEAM: 'x' } })
    expect(config.kubernetes.extra.kubeletArgs).toEqual(['--node-labels=team=${TEAM}'])
    expect(secrets).toEqual([])
  })

  it('rejects an unset variable, naming it, the field and the host', () => {
    const error = expectRejected(
      hostsWith('  - {name: node1, address: 10.0.0.1, password: "${NODE_PASSWORD}"}'),
      { line: 7, column: 48, field: 'spec.hosts[0].password', host: 'node1', says: ['environment variable NODE_PASSWORD is not set', 'spec.hosts[0].password uses ${NODE_PASSWORD}'] },
      { env: { OTHER: 'x' } },
    )
    expect(error.location.field).toBe('spec.hosts[0].password')
  })

  it('rejects an unset variable outside hosts', () => {
    expectRejected(singleNode('  registry:', '    privateRegistry: ${REGISTRY}/library'), {
      line: 13,
      column: 22,
      field: 'spec.registry.privateRegistry',
      says: ['environment variable REGISTRY is not set'],
    })
  })

  it('rejects a malformed reference', () => {
    expectRejected(singleNode('  registry:', '    privateRegistry: "${REGISTRY-HOST}"'), {
      line: 13,
      column: 22,
      field: 'spec.registry.privateRegistry',
      says: ['"${REGISTRY-HOST}" is not a valid variable reference'],
    })
  })
})
