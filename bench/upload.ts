/**
 * Upload throughput to 3 test nodes in parallel: our SSH connection (exec `cat` streaming and sftp
 * fastPut settings) against OpenSSH scp of the same files to the same nodes in the same run, plus
 * SSH handshake time. Needs root (test nodes). Prints a markdown table; JSON goes to bench/results/.
 *
 *   npx vite-node bench/upload.ts [-- --big-mib 64 --small 16 --small-kib 256 --rounds 3]
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { connectHost, type ConnectOptions } from '../src/nodes/connect.js'
import { sha256File } from '../src/nodes/transfer.js'
import { hostFor } from '../test/nodes/fixture.js'
import { startTestNodes, type TestNodes } from '../test/nodes/testnodes.js'

const run = promisify(execFile)
const { values } = parseArgs({
  options: {
    'big-mib': { type: 'string', default: '64' },
    small: { type: 'string', default: '16' },
    'small-kib': { type: 'string', default: '256' },
    rounds: { type: 'string', default: '3' },
    handshakes: { type: 'string', default: '10' },
  },
  allowPositionals: true,
})
const rounds = Number(values.rounds)

interface Method {
  name: string
  options: Partial<ConnectOptions>
}

const METHODS: Method[] = [
  { name: 'kk exec: stream into cat', options: { uploadMethod: 'exec' } },
  { name: 'kk sftp fastPut 32 KiB x 64', options: { uploadMethod: 'sftp', sftpChunkSize: 32 * 1024, sftpConcurrency: 64 } },
  { name: 'kk sftp fastPut 64 KiB x 32', options: { uploadMethod: 'sftp', sftpChunkSize: 64 * 1024, sftpConcurrency: 32 } },
  { name: 'kk sftp fastPut 255 KiB x 8', options: { uploadMethod: 'sftp', sftpChunkSize: 255 * 1024, sftpConcurrency: 8 } },
]

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'kk-bench-upload-'))
  const files = makeFiles(work)
  const sums = await Promise.all(files.map((f) => sha256File(f.path)))
  const totalBytes = files.reduce((sum, f) => sum + f.bytes, 0)
  const nodes = await startTestNodes({ count: 3, prefix: 'kkbench' })
  try {
    const handshake = await measureHandshakes(nodes, Number(values.handshakes))
    const rows: Row[] = []
    for (let round = 0; round < rounds; round++) {
      rows.push({ method: 'OpenSSH scp (process + handshake + copy)', round, ms: await timeScp(nodes, files) })
      for (const method of METHODS) rows.push({ method: method.name, round, ms: await timeOurs(nodes, files, sums, method) })
    }
    report(rows, totalBytes * nodes.nodes.length, handshake, files)
  } finally {
    await nodes.stop()
  }
}

interface BenchFile {
  path: string
  bytes: number
}

function makeFiles(work: string): BenchFile[] {
  const files: BenchFile[] = []
  const big = Number(values['big-mib']) * 1024 * 1024
  if (big > 0) files.push(writeRandom(join(work, 'big.bin'), big))
  for (let i = 0; i < Number(values.small); i++) files.push(writeRandom(join(work, `small-${i}.bin`), Number(values['small-kib']) * 1024))
  return files
}

function writeRandom(path: string, bytes: number): BenchFile {
  writeFileSync(path, randomBytes(bytes))
  return { path, bytes }
}

interface Row {
  method: string
  round: number
  ms: number
}

const options = (nodes: TestNodes, extra: Partial<ConnectOptions> = {}): ConnectOptions => ({ hostKeyPolicy: 'strict', knownHostsPath: nodes.knownHostsPath, ...extra })

async function clearTargets(nodes: TestNodes): Promise<void> {
  await Promise.all(nodes.nodes.map((n) => nodes.exec(n.name, ['sh', '-c', 'rm -rf /srv/bench && mkdir -p /srv/bench/scp && sync'])))
}

/** Connections are opened first: in a run the connection already exists when files are sent. */
async function timeOurs(nodes: TestNodes, files: BenchFile[], sums: string[], method: Method): Promise<number> {
  await clearTargets(nodes)
  const connections = await Promise.all(nodes.nodes.map((n) => connectHost(hostFor(nodes, n.name, 'root'), options(nodes, method.options))))
  const started = performance.now()
  await Promise.all(connections.map((connection) =>
    Promise.all(files.map((file, i) => connection.upload(file.path, `/srv/bench/${i}.bin`, { sha256: sums[i] }))),
  ))
  const ms = performance.now() - started
  await Promise.all(connections.map((c) => c.close()))
  return ms
}

async function timeScp(nodes: TestNodes, files: BenchFile[]): Promise<number> {
  await clearTargets(nodes)
  const started = performance.now()
  await Promise.all(nodes.nodes.map((n) =>
    run('scp', ['-q', '-o', 'BatchMode=yes', '-i', nodes.keyPath, '-o', `UserKnownHostsFile=${nodes.knownHostsPath}`, ...files.map((f) => f.path), `root@${n.address}:/srv/bench/scp/`]),
  ))
  return performance.now() - started
}

interface Handshake {
  kkMedianMs: number
  sshMedianMs: number
}

/** TCP connect + key exchange + host key check + public key auth, one connection at a time. */
async function measureHandshakes(nodes: TestNodes, count: number): Promise<Handshake> {
  const host = hostFor(nodes, 'node1', 'root')
  const kk: number[] = []
  const ssh: number[] = []
  for (let i = 0; i < count; i++) {
    let started = performance.now()
    const connection = await connectHost(host, options(nodes))
    kk.push(performance.now() - started)
    await connection.close()
    started = performance.now()
    await run('ssh', ['-o', 'BatchMode=yes', '-i', nodes.keyPath, '-o', `UserKnownHostsFile=${nodes.knownHostsPath}`, `root@${host.address}`, 'true'])
    ssh.push(performance.now() - started)
  }
  return { kkMedianMs: median(kk), sshMedianMs: median(ssh) }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

function report(rows: Row[], bytesMoved: number, handshake: Handshake, files: BenchFile[]): void {
  const methods = [...new Set(rows.map((r) => r.method))]
  const medianOf = (method: string) => median(rows.filter((r) => r.method === method).map((r) => r.ms))
  const scpMs = medianOf(methods[0])
  const mib = bytesMoved / 1024 / 1024
  const lines = [
    `Upload of ${files.length} files (${(files.reduce((s, f) => s + f.bytes, 0) / 1024 / 1024).toFixed(1)} MiB) to each of 3 test nodes in parallel, median of ${rounds} rounds:`,
    '',
    '| method | wall time (s) | aggregate MiB/s | speed vs scp |',
    '|---|---:|---:|---:|',
    ...methods.map((m) => {
      const ms = medianOf(m)
      return `| ${m} | ${(ms / 1000).toFixed(2)} | ${(mib / (ms / 1000)).toFixed(1)} | ${(scpMs / ms).toFixed(2)}x |`
    }),
    '',
    `| handshake (TCP + kex + host key check + ed25519 auth) | median ms |`,
    '|---|---:|',
    `| kk-action (ssh2) | ${handshake.kkMedianMs.toFixed(1)} |`,
    `| OpenSSH \`ssh host true\` (whole process) | ${handshake.sshMedianMs.toFixed(1)} |`,
  ]
  console.log(lines.join('\n'))
  mkdirSync('bench/results', { recursive: true })
  writeFileSync(join('bench/results', `upload-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ rows, handshake, bytesMoved }, null, 2))
}

await main()
