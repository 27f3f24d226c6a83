import type { Host } from '../../src/config/types.js'
import type { TestNodes } from './testnodes.js'

/** A config Host for a test node, logging in with the nodes' key unless told otherwise. */
export function hostFor(nodes: TestNodes, name: string, user: string, extra: Partial<Host> = {}): Host {
  const node = nodes.node(name)
  return {
    name, address: node.address, internalAddress: node.address, port: node.port, user,
    privateKey: nodes.privateKey, arch: 'amd64', roles: ['worker'], labels: {}, ...extra,
  }
}

/** Collects what a connection logs, to assert on warnings and retries. */
export function recorder(): { lines: string[]; log: (level: string, message: string) => void } {
  const lines: string[] = []
  return { lines, log: (level, message) => lines.push(`${level}: ${message}`) }
}

/** How many TCP connections the node's sshd accepted from `from` so far (sshd LogLevel VERBOSE). */
export async function sshdConnectionsFrom(nodes: TestNodes, name: string, from: string): Promise<number> {
  const { stdout } = await nodes.exec(name, ['journalctl', '--no-pager', '-o', 'cat', '_COMM=sshd'])
  return stdout.split('\n').filter((l) => l.startsWith(`Connection from ${from} port`)).length
}
