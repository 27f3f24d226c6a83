/**
 * A control-plane endpoint where no apiserver answers (controlPlaneEndpoint.address of a load balancer that
 * does not exist): the worker's join is reported within about a minute, once, with where the endpoint
 * resolves — not retried after kubeadm's 5-minute discovery timeout (seen for real: over 10 minutes).
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { runCli, type ProcessResult } from '../support/bundle.js'
import { writeClusterFile } from './cluster.js'

const skip = await testNodesSkipReason()

describe.skipIf(skip)('kk-action deploy against a control-plane endpoint nobody answers at', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  let server: MirrorServer
  let result: ProcessResult
  let ms: number
  let lb: string

  beforeAll(async () => {
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 2, prefix: 'kkue' }), buildMirror()])
    server = await serveMirror(mirror.root)
    const dir = mkdtempSync(join(tmpdir(), 'kk-e2e-unreachable-'))
    lb = nodes.nodes[0].address.replace(/\.\d+$/, '.201')
    const file = writeClusterFile(dir, nodes, mirror, {
      etcdType: 'kubeadm',
      extraSpec: `  controlPlaneEndpoint:\n    domain: lb.kubesphere.local\n    address: ${lb}\n    port: 6443\n`,
    })
    const started = Date.now()
    result = await runCli([
      'deploy', '-f', file, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url, '--checksums', mirror.checksumsFile,
      '--artifacts-dir', join(dir, 'artifacts'), '--logs', join(dir, 'logs'),
    ], { timeoutMs: 900_000 })
    ms = Date.now() - started
    console.info(`deploy against an unreachable endpoint: exit ${result.status} after ${Math.round(ms / 1000)} s`)
  }, 1_000_000)
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
  })

  it('fails at join-workers, once, saying where the endpoint resolves, without running kubeadm join', async () => {
    expect(result.status).toBe(1)
    const worker = nodes.nodes[1].name
    expect(result.stderr).toContain(`no apiserver answers at lb.kubesphere.local:6443 from ${worker} (it resolves to ${lb}`)
    expect(result.stderr.match(/join worker +failed/g)).toHaveLength(1)
    const joins = (await nodes.exec(worker, ['sh', '-c', "cat /var/log/kk-doubles/kubeadm.log 2>/dev/null | grep -c \"'join'\"; true"])).stdout.trim()
    expect(joins).toBe('0')
    expect(ms).toBeLessThan(240_000)
  })
})
