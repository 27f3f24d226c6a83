/**
 * What the Kubernetes modules read back: kubeadm's output (as the kubeadm double prints it, in kubeadm's
 * format), admin.conf, and `kubectl get -o json` for the smoke test.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { parseCertificateKey, parseInitOutput, parseJoinCommand } from '../../src/modules/kubeadm-join.js'
import { kubeconfigSecrets, runnerServer, withServer } from '../../src/modules/kubeadm-kubeconfig.js'
import { networkHint, nodeProblems, podProblems, smokeTestSettings } from '../../src/modules/kubeadm-health.js'
import { waitCommands } from '../../src/modules/smoke-test.js'
import { renderDouble } from '../fixtures/build-mirror.js'
import { makeConfig } from '../plan/make-config.js'

const dir = mkdtempSync(join(tmpdir(), 'kk-kubeadm-out-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs a double with its state under `dir`, like on a node. */
function runDouble(name: string, args: string[]): string {
  const path = join(dir, name)
  writeFileSync(path, renderDouble(name, 'v1.30.1'))
  chmodSync(path, 0o755)
  const env = {
    ...process.env,
    KK_DOUBLES_LOG_DIR: join(dir, 'log'), KK_DOUBLES_STATE_DIR: join(dir, 'state'),
    KK_DOUBLES_K8S_DIR: join(dir, 'k8s'), KK_DOUBLES_KUBELET_DIR: join(dir, 'kubelet'),
    // This machine is not a test node: the double neither checks it nor starts an apiserver stand-in on it.
    KK_DOUBLES_HOST_CHECKS: 'off',
  }
  return execFileSync(path, args, { env, encoding: 'utf8' })
}

describe('kubeadm output', () => {
  const config = join(dir, 'kubeadm-config.yaml')
  writeFileSync(config, 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: lb.kubesphere.local:6443\n')
  const initOutput = runDouble('kubeadm', ['init', '--config', config, '--upload-certs'])

  it('init: token, CA hash of the real CA and the certificate key from the join commands', () => {
    const credentials = parseInitOutput(initOutput, 'lb.kubesphere.local:6443')
    const caHash = execFileSync('sh', ['-c', `openssl x509 -in ${join(dir, 'k8s/pki/ca.crt')} -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1`], { encoding: 'utf8' }).trim()
    expect(credentials).toEqual({
      apiServerEndpoint: 'lb.kubesphere.local:6443', token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${caHash}`,
      certificateKey: expect.stringMatching(/^[0-9a-f]{64}$/),
    })
    expect(initOutput).toContain(`--certificate-key ${credentials.certificateKey}`)
  })

  it('a rerun: a fresh token from token create, a new key from upload-certs', () => {
    const fresh = parseJoinCommand(runDouble('kubeadm', ['token', 'create', '--print-join-command']), 'lb.kubesphere.local:6443')
    expect(fresh.token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/)
    expect(fresh.token).not.toBe('abcdef.0123456789abcdef')
    expect(fresh.caCertHash).toBe(parseInitOutput(initOutput, '').caCertHash)
    const key = parseCertificateKey(runDouble('kubeadm', ['init', 'phase', 'upload-certs', '--upload-certs']))
    expect(key).toMatch(/^[0-9a-f]{64}$/)
  })

  it('init output without a join command is an error, not empty credentials', () => {
    expect(() => parseInitOutput('[init] Using Kubernetes version: v1.30.1\n', 'x:6443')).toThrow(/printed no join command/)
  })

  it('admin.conf: server rewritten, the rest kept; client key data listed as secrets (as written and decoded)', async () => {
    const { readFileSync } = await import('node:fs')
    const admin = readFileSync(join(dir, 'k8s/admin.conf'), 'utf8')
    const rewritten = withServer(admin, 'https://10.9.0.1:6443')
    const before = parse(admin)
    const after = parse(rewritten)
    expect(after.clusters[0].cluster.server).toBe('https://10.9.0.1:6443')
    expect(after.users).toEqual(before.users)
    expect(after.clusters[0].cluster['certificate-authority-data']).toBe(before.clusters[0].cluster['certificate-authority-data'])
    const secrets = kubeconfigSecrets(admin)
    expect(secrets).toContain(before.users[0].user['client-key-data'])
    expect(secrets.some((s) => s.includes('PRIVATE KEY-----'))).toBe(true)
  })
})

describe('the server the runner uses', () => {
  it('the first control plane\'s address on the apiserver port, unless controlPlaneEndpoint.address is a reachable VIP/LB', () => {
    const config = makeConfig({ controlPlanes: 2 })
    config.hosts[0].address = '203.0.113.1'
    expect(runnerServer(config)).toBe('https://203.0.113.1:6443')
    config.controlPlaneEndpoint.address = '10.0.0.100'
    config.controlPlaneEndpoint.port = 8443
    expect(runnerServer(config)).toBe('https://10.0.0.100:8443')
    config.controlPlaneEndpoint.internalLoadbalancer = 'haproxy'
    expect(runnerServer(config)).toBe('https://203.0.113.1:6443')
    config.hosts[0].address = 'fd00::1'
    expect(runnerServer(config)).toBe('https://[fd00::1]:6443')
  })
})

const nodeList = (nodes: Array<[string, string, string?, string?]>) => JSON.stringify({
  items: nodes.map(([name, status, reason, message]) => ({ metadata: { name }, status: { conditions: [{ type: 'Ready', status, reason, message }] } })),
})

describe('smoke test readings', () => {
  it('nodes: missing and NotReady ones named with the kubelet\'s reason', () => {
    const json = nodeList([
      ['node1', 'True', 'KubeletReady'],
      ['node2', 'False', 'KubeletNotReady', 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady'],
    ])
    expect(nodeProblems(json, ['node1', 'node2', 'node3'])).toEqual([
      'node node2 is not Ready (KubeletNotReady: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady)',
      'node node3 is not registered',
    ])
    expect(nodeProblems(json, ['node1'])).toEqual([])
  })

  it('pods: Running and ready or Succeeded pass; others say why', () => {
    const json = JSON.stringify({ items: [
      { metadata: { name: 'kube-proxy-a', namespace: 'kube-system' }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
      { metadata: { name: 'job-x', namespace: 'kube-system' }, status: { phase: 'Succeeded' } },
      { metadata: { name: 'coredns-1', namespace: 'kube-system' }, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' }] } },
      { metadata: { name: 'etcd-x', namespace: 'kube-system' }, spec: { nodeName: 'node2' }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'etcd', ready: false, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s' } } }] } },
    ] })
    expect(podProblems(json)).toEqual([
      'pod kube-system/coredns-1 is Pending, not ready (PodScheduled: Unschedulable: 0/1 nodes are available)',
      'pod kube-system/etcd-x on node2 is Running, not ready (container etcd: CrashLoopBackOff: back-off 5m0s)',
    ])
  })

  it('a network hint only when network.plugin is none and the reasons point at the network', () => {
    const problems = { nodes: ['node node1 is not Ready (KubeletNotReady: container runtime network not ready: cni plugin not initialized)'], pods: [] }
    expect(networkHint(makeConfig({ plugin: 'none' }), problems)).toMatch(/network\.plugin is none/)
    expect(networkHint(makeConfig({ plugin: 'calico' }), problems)).toBeUndefined()
    expect(networkHint(makeConfig({ plugin: 'none' }), { nodes: ['node node1 is not registered'], pods: [] })).toBeUndefined()
  })

  it('spec.smokeTest: defaults, and each wrong field named', () => {
    const config = makeConfig()
    expect(smokeTestSettings(config)).toEqual({ timeoutSeconds: 300 })
    config.spec = { smokeTest: { manifest: 'smoke.yaml', command: 'kubectl get ns', timeoutSeconds: 60 } }
    expect(smokeTestSettings(config)).toEqual({ manifest: 'smoke.yaml', command: 'kubectl get ns', timeoutSeconds: 60 })
    config.spec = { smokeTest: { timeoutSeconds: -1 } }
    expect(() => smokeTestSettings(config)).toThrow(/spec\.smokeTest\.timeoutSeconds must be a whole number above 0/)
    config.spec = { smokeTest: { manifests: 'x' } }
    expect(() => smokeTestSettings(config)).toThrow(/spec\.smokeTest\.manifests is not a smokeTest field/)
  })

  it('a user manifest\'s workloads become rollout/wait commands in their namespaces', () => {
    const manifest = [
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: smoke}',
      'apiVersion: v1\nkind: Service\nmetadata: {name: web}',
      'apiVersion: batch/v1\nkind: Job\nmetadata: {name: probe}',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: one, namespace: smoke}',
    ].join('\n---\n')
    expect(waitCommands(manifest, 60)).toEqual([
      ['rollout', 'status', 'deployment/web', '-n', 'smoke', '--timeout=60s'],
      ['wait', '--for=condition=complete', 'job/probe', '-n', 'default', '--timeout=60s'],
      ['wait', '--for=condition=Ready', 'pod/one', '-n', 'smoke', '--timeout=60s'],
    ])
  })
})
