/**
 * A cancel stops the remote command and everything it started (closing an SSH channel does not: without a
 * pty, sshd sends no SIGHUP, so `kubeadm join` used to run on after a cancelled deploy), and says it was a
 * cancel. Against a real sshd in a test node, as root and through NOPASSWD sudo, and on the runner itself.
 */
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectHost, type ConnectOptions } from '../../src/nodes/connect.js'
import type { Connection } from '../../src/nodes/connection.js'
import { LocalConnection } from '../../src/nodes/local.js'
import { sh } from '../../src/nodes/quote.js'
import { hostFor } from './fixture.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from './testnodes.js'

const skip = await testNodesSkipReason()

/** Starts `sleep <marker>` with a child of its own in the background, aborts after a second. */
async function cancelDuring(connection: Connection, marker: number, sudo: boolean): Promise<{ error: Error; ms: number }> {
  const controller = new AbortController()
  const started = Date.now()
  const running = connection.exec(sh`sh -c ${`sleep ${marker + 1} & sleep ${marker}; echo finished`}`, { sudo, signal: controller.signal })
  setTimeout(() => controller.abort('SIGTERM'), 1000)
  const error = await running.then(() => new Error('the command was not stopped'), (e: Error) => e)
  return { error, ms: Date.now() - started }
}

describe.skipIf(skip)('cancelling remote commands', () => {
  let nodes: TestNodes
  let options: ConnectOptions
  const processes = async () => (await nodes.exec('node1', ['ps', '-eo', 'args'])).stdout

  beforeAll(async () => {
    nodes = await startTestNodes({ count: 1, prefix: 'kkcn' })
    options = { hostKeyPolicy: 'strict', knownHostsPath: nodes.knownHostsPath, retries: 0 }
  })
  afterAll(async () => {
    await nodes?.stop()
  })

  for (const [user, sudo, marker] of [['root', false, 4001], ['kkdeploy', true, 4003]] as const) {
    it(`over SSH as ${user}${sudo ? ' through sudo' : ''}: the command and its child are gone, the error says cancelled`, async () => {
      const connection = await connectHost(hostFor(nodes, 'node1', user), options)
      const { error, ms } = await cancelDuring(connection, marker, sudo)
      expect(error.message).toMatch(/cancelled \(SIGTERM\): the command was stopped on the host/)
      expect(error.message).not.toMatch(/connection lost|went down/)
      expect(ms).toBeLessThan(10_000)
      const left = await processes()
      expect(left).not.toContain(`sleep ${marker}`)
      expect(left).not.toContain(`sleep ${marker + 1}`)
      // the connection still works, and a command that is not cancelled keeps its input and exit code
      const normal = await connection.exec(sh`sh -c ${'cat; exit 3'}`, { sudo, stdin: 'input', signal: new AbortController().signal })
      expect(normal).toMatchObject({ code: 3, stdout: 'input', stderr: '' })
      expect((await nodes.exec('node1', ['sh', '-c', 'ls /tmp | grep -c kk-action-exec; true'])).stdout.trim()).toBe('0')
      await connection.close()
    }, 20_000)
  }
})

describe('cancelling local commands', () => {
  it('the command and its child are gone, the error says cancelled', async () => {
    const connection = new LocalConnection('runner')
    const { error, ms } = await cancelDuring(connection, 4005, false)
    expect(error.message).toMatch(/cancelled \(SIGTERM\): the command was stopped on the host/)
    expect(ms).toBeLessThan(10_000)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    expect(left).not.toContain('sleep 4005')
    expect(left).not.toContain('sleep 4006')
  }, 20_000)
})
