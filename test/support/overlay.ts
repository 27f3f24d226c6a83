/**
 * What a test node wrote over the host's files, read from its overlay's upper directories: snapshots and
 * their differences, for "delete leaves the node as it was" checks.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { lstatSync, readFileSync, readlinkSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { TestNode } from '../nodes/testnodes.js'

// Files a node writes whatever kk-action does: the journal and logs, systemd's own state (random seed,
// timer stamps, unit invocation records), caches. Their change says nothing about what delete left.
// The doubles' own records (var/lib/kk-doubles) are what a real kubeadm or helm would keep in the cluster.
export const NOISE = [/^var\/log\//, /^var\/lib\/systemd\//, /^var\/cache\//, /^var\/tmp\//, /^var\/lib\/apt\//, /^root\/\.cache\//,
  /^var\/lib\/kk-doubles(\/|$)/]

export type Snapshot = Map<string, string>

function describeEntry(path: string, stats: Stats): string {
  if (stats.isCharacterDevice() && stats.rdev === 0) return 'absent' // an overlay whiteout
  if (stats.isDirectory()) return 'dir'
  if (stats.isSymbolicLink()) return `link ${readlinkSync(path)}`
  if (stats.isFile()) return `file ${(stats.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`
  return `other ${stats.mode.toString(8)}`
}

/** What the host (the overlay's lower layer) has at a node path. */
function lowerEntry(path: string): string {
  try {
    return describeEntry(`/${path}`, lstatSync(`/${path}`))
  } catch {
    return 'absent'
  }
}

export async function snapshot(node: TestNode, noise: RegExp[] = NOISE): Promise<Snapshot> {
  const listed = await promisify(execFile)('find', [node.upperDir, '-mindepth', '1', '-printf', '%P\\n'], { maxBuffer: 64 << 20 })
  const paths = listed.stdout.split('\n').filter((p) => p && !noise.some((n) => n.test(p)))
  return new Map(paths.map((p) => [p, describeEntry(join(node.upperDir, p), lstatSync(join(node.upperDir, p)))]))
}

/** Paths whose content, as the node sees it, differs between two snapshots (the lower layer fills the gaps). */
export function differences(before: Snapshot, after: Snapshot): string[] {
  const paths = new Set([...before.keys(), ...after.keys()])
  return [...paths].sort().flatMap((p) => {
    const was = before.get(p) ?? lowerEntry(p)
    const is = after.get(p) ?? lowerEntry(p)
    return was === is ? [] : [`${p}: ${was.slice(0, 20)} -> ${is.slice(0, 20)}`]
  })
}

