/**
 * SIGTERM to the bundled CLI while `kubeadm join` runs on a worker (the kubeadm double hangs there on
 * request): the deploy ends promptly saying it was cancelled, and nothing of the join is left running on
 * the node (closing an SSH channel alone does not stop a command: there is no pty, so no SIGHUP).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { repoRoot } from '../support/bundle.js'
import { writeClusterFile } from './cluster.js'

const skip = await testNodesSkipReason()
const HANG_SECONDS = 600

describe.skipIf(skip)('kk-action deploy cancelled (SIGTERM) during kubeadm join', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  let server: MirrorServer
  let exit: { code: number | null; stderr: string; ms: number }
  const onNode = async (name: string, command: string) => nodes.exec(name, ['sh', '-c', command])

  beforeAll(async () => {
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 2, prefix: 'kkcc' }), buildMirror()])
    server = await serveMirror(mirror.root)
    const dir = mkdtempSync(join(tmpdir(), 'kk-e2e-cancel-'))
    const file = writeClusterFile(dir, nodes, mirror, { etcdType: 'kubeadm' })
    const worker = nodes.nodes[1].name
    await onNode(worker, `mkdir -p /var/lib/kk-doubles/hang && echo ${HANG_SECONDS} > /var/lib/kk-doubles/hang/kubeadm-join`)
    const child = spawn(process.execPath, [join(repoRoot, 'dist/cli/index.js'), 'deploy', '-f', file, '--known-hosts', nodes.knownHostsPath,
      '--mirror', server.url, '--checksums', mirror.checksumsFile, '--artifacts-dir', join(dir, 'artifacts'), '--logs', join(dir, 'logs')],
    { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    child.stdout.resume()
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 600_000)
    try {
      // the join is under way: the double on the worker says it hangs
      while (child.exitCode === null && !/hanging for/.test((await onNode(worker, 'cat /var/log/kk-doubles/kubeadm.log 2>/dev/null; true')).stdout)) {
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
      const signalled = Date.now()
      child.kill('SIGTERM')
      const code = await closed
      exit = { code, stderr, ms: Date.now() - signalled }
      console.info(`deploy cancelled during kubeadm join: exit ${code} ${exit.ms} ms after SIGTERM`)
    } finally {
      clearTimeout(watchdog)
    }
  }, 900_000)
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
  })

  it('ends promptly, failed, saying it was cancelled (not that a host went down)', () => {
    expect(exit.code, exit.stderr.slice(-4000)).toBe(1)
    expect(exit.ms).toBeLessThan(15_000)
    expect(exit.stderr).toMatch(/deploy cancelled \(SIGTERM\)/)
    expect(exit.stderr).toMatch(/join worker +cancelled/)
    expect(exit.stderr).not.toMatch(/connection lost|went down/i)
  })

  it('leaves no kubeadm running on the worker', async () => {
    const processes = (await onNode(nodes.nodes[1].name, 'ps -eo args')).stdout
    expect(processes).not.toMatch(/kubeadm/)
    expect(processes).not.toContain(`sleep ${HANG_SECONDS}`)
  })
})
