/**
 * The benchmark suite of issue 9, in one run on one machine, reported as ratios against peers measured in
 * the same run (absolute times on a shared machine drift):
 *   1. fan-out of the v1.30.1 containerd binary set (local mirror, real Debian binaries) to 3 and 8 test
 *      nodes: `kk-action deploy --until containerd` (bundled CLI; precheck and configure-os included) vs
 *      OpenSSH scp of the same files (one scp per node, all in parallel) vs Ansible's copy module;
 *   2. rerun on the deployed nodes (wall time, bytes uploaded);
 *   3. whole-process `plan --json` on 2, 100 and 1000 hosts vs `node -e 0` (hyperfine);
 *   4. artifact resolution (bench/artifacts.ts at a reduced scale);
 *   5. TCP connections per host per run, counted by each node's sshd (LogLevel VERBOSE).
 * Needs root (test nodes), ansible-playbook, scp and hyperfine. Prints a markdown table and writes it to
 * bench/results/<date>.md.
 *
 *   npx vite-node bench/run.ts [--nodes 3,8] [--plan-runs 5] [--artifacts-scale 0.05] [--artifacts-runs 1]
 *                              [--no-bundle] [--skip fanout,plan,artifacts] [--host-bashrc]
 */
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../test/fixtures/build-mirror.js'
import { writeClusterFile } from '../test/e2e/cluster.js'
import { connectHost } from '../src/nodes/connect.js'
import { raw } from '../src/nodes/quote.js'
import { hostFor, sshdConnectionsFrom } from '../test/nodes/fixture.js'
import { startTestNodes, type TestNodes } from '../test/nodes/testnodes.js'
import { repoRoot, run as runProcess, type ProcessResult } from '../test/support/bundle.js'

const execFileAsync = promisify(execFile)

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3,8' },
    'plan-runs': { type: 'string', default: '5' },
    'artifacts-scale': { type: 'string', default: '0.05' },
    'artifacts-runs': { type: 'string', default: '1' },
    'no-bundle': { type: 'boolean', default: false },
    'host-bashrc': { type: 'boolean', default: false },
    skip: { type: 'string', default: '' },
  },
  allowPositionals: true,
})
const skipped = new Set(values.skip.split(',').filter(Boolean))
const nodeCounts = values.nodes.split(',').filter(Boolean).map(Number)
for (const count of nodeCounts) {
  if (!Number.isInteger(count) || count < 1 || count > 12) throw new Error(`--nodes: ${count} is not a node count from 1 to 12`)
}

const work = mkdtempSync(join(tmpdir(), 'kk-bench-run-'))
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
/** kk-action's --logs directories are kept here (gitignored) for profiling: events.ndjson has every command. */
const keptLogs = join(repoRoot, 'bench', 'results', `${stamp}-logs`)
const started = Date.now()
const out: string[] = []
const say = (line = ''): void => {
  out.push(line)
  console.log(line)
}
const progress = (line: string): void => {
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`)
}

// ---------------------------------------------------------------------------------------------------------
// The CLI under test: bundled, then copied aside so a concurrent re-bundle in the shared tree cannot swap it.

async function prepareCli(): Promise<string> {
  if (!values['no-bundle']) {
    progress('bundling the CLI (node scripts/bundle.mjs cli --if-stale)')
    const bundled = await runProcess(process.execPath, ['scripts/bundle.mjs', 'cli', '--if-stale'], { timeoutMs: 600_000 })
    if (bundled.status !== 0) throw new Error(`bundling failed: ${bundled.stderr}`)
  }
  const dir = join(work, 'cli')
  cpSync(join(repoRoot, 'dist', 'cli'), dir, { recursive: true })
  return join(dir, 'index.js')
}

// ---------------------------------------------------------------------------------------------------------
// 1, 2, 5: fan-out, rerun and connections on test nodes.

interface RunMeasure {
  ms: number
  /** sshd "Connection from <runner>" lines per node during the run. */
  connections: number[]
  bytes?: number
  changes?: number
  /** Module durations (events.ndjson module-end) and per-module exec counts, for kk-action. */
  modules?: ModuleProfile[]
}

interface ModuleProfile {
  id: string
  ms: number
  /** `command` events per host (median over hosts). */
  execsPerHost: number
  uploadsPerHost: number
  /** Sum of command durations on the slowest host, ms. */
  commandMsPerHost: number
  /** Sum of upload durations on the slowest host, ms. */
  uploadMsPerHost: number
}

interface FanOut {
  count: number
  files: Array<{ name: string; bytes: number }>
  totalBytes: number
  scp: RunMeasure
  kk: RunMeasure
  kkRerun: RunMeasure
  ansible: RunMeasure
  ansibleRerun: RunMeasure
  latency: ExecLatency
  loadAtEnd: number
}

/** Median ms of one remote `true`, each way of running it, sequentially on node1 of the same nodes. */
interface ExecLatency {
  samples: number
  /** kk-action's SshConnection.exec over one open connection (a new session channel per exec). */
  kkExec: number
  /** OpenSSH `ssh host true` through an open ControlMaster (a new session on the master per command). */
  sshMux: number
  /** The same `true` entered into the node's namespaces directly (no SSH, no PAM): the floor. */
  nsenter: number
  /** The same with sshd's PAM session modules out of the picture: kk exec with `UsePAM no` on the node. */
  kkExecNoPam?: number
  /** kk exec with the host's /root/.bashrc in the node (what the test nodes have unless the bench replaces it). */
  kkExecHostBashrc?: number
}

/**
 * Root's ~/.bashrc on the nodes. sshd runs every command through root's bash, which (Debian's SSH_SOURCE_BASHRC)
 * sources ~/.bashrc even for non-interactive commands. A fresh Debian server has /etc/skel's, which returns at
 * once when not interactive (test/nodes/testnodes.ts gives the nodes that one); this machine's /root/.bashrc
 * runs `pyenv init` (~0.3 s per exec under load). `host` puts this machine's into the nodes, to measure that.
 */
async function setBashrc(nodes: TestNodes, which: 'debian' | 'host', names = nodes.nodes.map((n) => n.name)): Promise<void> {
  const content = readFileSync(which === 'host' ? '/root/.bashrc' : '/etc/skel/.bashrc', 'utf8')
  await Promise.all(names.map(async (name) => {
    const written = await nodes.exec(name, ['sh', '-c', 'cat > /root/.bashrc'], content)
    if (written.code !== 0) throw new Error(`cannot write /root/.bashrc on ${name}: ${written.stderr}`)
  }))
}

async function connectionsNow(nodes: TestNodes): Promise<number[]> {
  return Promise.all(nodes.nodes.map((n) => sshdConnectionsFrom(nodes, n.name, nodes.bridgeAddress)))
}

async function measured(nodes: TestNodes, fn: () => Promise<Omit<RunMeasure, 'ms' | 'connections'>>): Promise<RunMeasure> {
  const before = await connectionsNow(nodes)
  const t0 = performance.now()
  const rest = await fn()
  const ms = performance.now() - t0
  // sshd logs the connection when it accepts it; journald may take a moment to have it.
  await new Promise((r) => setTimeout(r, 500))
  const after = await connectionsNow(nodes)
  return { ms, connections: after.map((a, i) => a - before[i]), ...rest }
}

function check(result: ProcessResult, what: string): ProcessResult {
  if (result.status !== 0) throw new Error(`${what} failed (exit ${result.status}):\n${(result.stdout + result.stderr).slice(-4000)}`)
  return result
}

/** The artifact files the plan says sync-binaries and containerd need, as files in the local mirror. */
async function planFiles(cli: string, config: string, mirror: MirrorBuild, server: MirrorServer): Promise<Array<{ name: string; path: string; bytes: number }>> {
  const planned = check(await runProcess(process.execPath, [cli, 'plan', '-f', config, '--json', '--until', 'containerd', '--mirror', server.url, '--checksums', mirror.checksumsFile]), 'plan')
  const plan = JSON.parse(planned.stdout) as { artifacts: Array<{ name: string; version: string; url: string }> }
  return plan.artifacts.map((artifact) => {
    const file = mirror.files.find((f) => f.name === artifact.name && f.version === artifact.version)
    if (!file) throw new Error(`the mirror has no ${artifact.name} ${artifact.version}`)
    return { name: `${artifact.name} ${artifact.version}`, path: file.file, bytes: file.size }
  })
}

function profileModules(logsDir: string): ModuleProfile[] {
  const events = readFileSync(join(logsDir, 'events.ndjson'), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>)
  const ids = events.filter((e) => e.type === 'module-end').map((e) => ({ id: String(e.module), ms: Number(e.durationMs) }))
  return ids.map(({ id, ms }) => {
    const perHost = (type: string) => {
      const counts = new Map<string, number>()
      for (const e of events) if (e.type === type && e.module === id) counts.set(String(e.host), (counts.get(String(e.host)) ?? 0) + 1)
      return median([...counts.values()])
    }
    const slowest = (type: string) => {
      const sums = new Map<string, number>()
      for (const e of events) if (e.type === type && e.module === id) sums.set(String(e.host), (sums.get(String(e.host)) ?? 0) + Number(e.durationMs))
      return Math.max(0, ...sums.values())
    }
    return {
      id, ms, execsPerHost: perHost('command'), uploadsPerHost: perHost('upload'),
      commandMsPerHost: slowest('command'), uploadMsPerHost: slowest('upload'),
    }
  })
}

async function kkDeploy(cli: string, config: string, nodes: TestNodes, mirror: MirrorBuild, server: MirrorServer, label: string): Promise<RunMeasure> {
  const logs = join(work, `logs-${label}`)
  let stderr = ''
  const measure = await measured(nodes, async () => {
    const result = check(await runProcess(process.execPath, [
      cli, 'deploy', '-f', config, '--until', 'containerd', '--known-hosts', nodes.knownHostsPath, '--mirror', server.url,
      '--checksums', mirror.checksumsFile, '--artifacts-dir', join(work, 'artifacts'), '--logs', logs,
    ], { timeoutMs: 600_000 }), `kk-action deploy (${label})`)
    stderr = result.stderr
    return {}
  })
  const finished = stderr.match(/deploy finished: (\d+) change\(s\), (\d+) byte\(s\) uploaded/)
  if (!finished) throw new Error(`kk-action deploy (${label}) printed no "deploy finished" line:\n${stderr.slice(-2000)}`)
  cpSync(logs, join(keptLogs, label), { recursive: true })
  return { ...measure, changes: Number(finished[1]), bytes: Number(finished[2]), modules: profileModules(logs) }
}

async function scpAll(nodes: TestNodes, files: Array<{ path: string }>): Promise<RunMeasure> {
  await Promise.all(nodes.nodes.map((n) => nodes.exec(n.name, ['sh', '-c', 'rm -rf /srv/bench-scp && mkdir -p /srv/bench-scp'])))
  return measured(nodes, async () => {
    await Promise.all(nodes.nodes.map((n) => execFileAsync('scp', [
      '-q', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${nodes.knownHostsPath}`,
      '-i', nodes.keyPath, ...files.map((f) => f.path), `root@${n.address}:/srv/bench-scp/`,
    ])))
    return {}
  })
}

/** Ansible as a user would run it: its defaults (ssh with ControlPersist), forks = node count, no fact gathering. */
function writeAnsible(nodes: TestNodes, files: Array<{ path: string }>, dir: string): { inventory: string; playbook: string } {
  mkdirSync(dir, { recursive: true })
  const inventory = join(dir, 'inventory.ini')
  writeFileSync(inventory, [
    '[nodes]',
    ...nodes.nodes.map((n) => `${n.name} ansible_host=${n.address}`),
    '',
    '[nodes:vars]',
    'ansible_user=root',
    `ansible_ssh_private_key_file=${nodes.keyPath}`,
    `ansible_ssh_common_args='-o UserKnownHostsFile=${nodes.knownHostsPath} -o StrictHostKeyChecking=yes'`,
    'ansible_python_interpreter=/usr/bin/python3',
    '',
  ].join('\n'))
  const playbook = join(dir, 'copy.yml')
  writeFileSync(playbook, [
    '- hosts: nodes',
    '  gather_facts: false',
    '  tasks:',
    '    - name: target directory',
    '      file: { path: /srv/bench-ansible, state: directory }',
    '    - name: the binary set',
    '      copy: { src: "{{ item }}", dest: /srv/bench-ansible/, mode: "0755" }',
    '      loop:',
    ...files.map((f) => `        - ${JSON.stringify(f.path)}`),
    '',
  ].join('\n'))
  return { inventory, playbook }
}

async function ansibleCopy(nodes: TestNodes, ansible: { inventory: string; playbook: string }, label: string): Promise<RunMeasure> {
  // A fresh control-path directory per run: a run starts without master connections, as a CI job does.
  const cp = join(work, `ansible-cp-${label}`)
  mkdirSync(cp, { recursive: true })
  const env = {
    ...process.env, ANSIBLE_HOST_KEY_CHECKING: 'True', ANSIBLE_SSH_CONTROL_PATH_DIR: cp, ANSIBLE_LOCAL_TEMP: join(work, 'ansible-tmp'),
    ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: 'False',
  }
  let stdout = ''
  const measure = await measured(nodes, async () => {
    const result = check(await runProcess('ansible-playbook', ['-i', ansible.inventory, '-f', String(nodes.nodes.length), ansible.playbook], { env, timeoutMs: 600_000 }), `ansible-playbook (${label})`)
    stdout = result.stdout
    return {}
  })
  await closeControlMasters(cp)
  const changes = [...stdout.matchAll(/changed=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0)
  return { ...measure, changes }
}

/** Ends the ssh master processes Ansible left behind (ControlPersist) through their own sockets. */
async function closeControlMasters(dir: string): Promise<void> {
  const { stdout } = await execFileAsync('find', [dir, '-type', 's'])
  await Promise.all(stdout.split('\n').filter(Boolean).map((socket) =>
    execFileAsync('ssh', ['-o', `ControlPath=${socket}`, '-O', 'exit', 'ignored']).catch(() => undefined)))
}

async function fanOut(cli: string, count: number, mirror: MirrorBuild, server: MirrorServer): Promise<FanOut> {
  progress(`starting ${count} test nodes`)
  const nodes = await startTestNodes({ count, prefix: `kkbr${count}` })
  try {
    await setBashrc(nodes, values['host-bashrc'] ? 'host' : 'debian')
    const dir = join(work, `n${count}`)
    mkdirSync(dir, { recursive: true })
    const config = writeClusterFile(dir, nodes, mirror, { etcdType: 'kubeadm' })
    const files = await planFiles(cli, config, mirror, server)
    const ansibleFiles = writeAnsible(nodes, files, join(dir, 'ansible'))
    progress(`${count} nodes: scp`)
    const scp = await scpAll(nodes, files)
    progress(`${count} nodes: kk-action deploy --until containerd`)
    const kk = await kkDeploy(cli, config, nodes, mirror, server, `n${count}-first`)
    progress(`${count} nodes: ansible copy`)
    const ansible = await ansibleCopy(nodes, ansibleFiles, `n${count}-first`)
    progress(`${count} nodes: kk-action rerun`)
    const kkRerun = await kkDeploy(cli, config, nodes, mirror, server, `n${count}-rerun`)
    progress(`${count} nodes: ansible rerun`)
    const ansibleRerun = await ansibleCopy(nodes, ansibleFiles, `n${count}-rerun`)
    progress(`${count} nodes: per-exec latency`)
    const latency = await execLatency(nodes, 10)
    return {
      count, files: files.map((f) => ({ name: f.name, bytes: f.bytes })), totalBytes: files.reduce((s, f) => s + f.bytes, 0),
      scp, kk, kkRerun, ansible, ansibleRerun, latency, loadAtEnd: loadavg()[0],
    }
  } finally {
    await nodes.stop()
  }
}

async function timed(samples: number, fn: () => Promise<unknown>): Promise<number> {
  const ms: number[] = []
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now()
    await fn()
    ms.push(performance.now() - t0)
  }
  return median(ms)
}

async function kkExecMedian(nodes: TestNodes, samples: number): Promise<number> {
  const connection = await connectHost(hostFor(nodes, 'node1', 'root'), { hostKeyPolicy: 'strict', knownHostsPath: nodes.knownHostsPath })
  try {
    await connection.exec(raw('true'))
    return await timed(samples, () => connection.exec(raw('true')))
  } finally {
    await connection.close()
  }
}

async function execLatency(nodes: TestNodes, samples: number): Promise<ExecLatency> {
  const node = nodes.node('node1')
  const kkExec = await kkExecMedian(nodes, samples)
  const control = join(work, `mux-${nodes.nodes.length}`)
  const ssh = (...extra: string[]) => execFileAsync('ssh', [
    '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${nodes.knownHostsPath}`, '-i', nodes.keyPath,
    '-o', 'ControlMaster=auto', '-o', `ControlPath=${control}`, '-o', 'ControlPersist=60', ...extra, `root@${node.address}`, 'true',
  ])
  await ssh()
  const sshMux = await timed(samples, () => ssh())
  await execFileAsync('ssh', ['-o', `ControlPath=${control}`, '-O', 'exit', 'ignored']).catch(() => undefined)
  const nsenter = await timed(samples, () => nodes.exec('node1', ['true']))
  // The same exec with sshd not running PAM's session stack (pam_systemd, pam_motd, ...), then back.
  const pam = async (value: 'yes' | 'no') => {
    await nodes.exec('node1', ['sh', '-c', `sed -i 's/^#\\?UsePAM .*/UsePAM ${value}/' /etc/ssh/sshd_config && grep -q '^UsePAM ${value}' /etc/ssh/sshd_config && systemctl reload ssh`])
    await new Promise((r) => setTimeout(r, 500))
  }
  let kkExecNoPam: number | undefined
  try {
    await pam('no')
    kkExecNoPam = await kkExecMedian(nodes, samples)
  } catch (error) {
    progress(`exec latency without PAM not measured: ${(error as Error).message}`)
  } finally {
    await pam('yes').catch(() => undefined)
  }
  let kkExecHostBashrc: number | undefined
  if (!values['host-bashrc']) {
    await setBashrc(nodes, 'host', ['node1'])
    try {
      kkExecHostBashrc = await kkExecMedian(nodes, samples)
    } finally {
      await setBashrc(nodes, 'debian', ['node1'])
    }
  }
  return { samples, kkExec, sshMux, nsenter, kkExecNoPam, kkExecHostBashrc }
}

// ---------------------------------------------------------------------------------------------------------
// 3: plan scaling.

function scaledConfig(hosts: number): string {
  const file = join(work, `plan-${hosts}.yaml`)
  const lines = Array.from({ length: hosts }, (_, i) => {
    const address = `10.${Math.floor((i + 1) / 65536) % 256}.${Math.floor((i + 1) / 256) % 256}.${(i + 1) % 256}`
    return `  - {name: node${i + 1}, address: ${address}, internalAddress: ${address}, user: root, privateKeyPath: "~/.ssh/id_ed25519"}`
  })
  const controlPlanes = Math.min(3, hosts)
  writeFileSync(file, `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata:
  name: bench-${hosts}
spec:
  hosts:
${lines.join('\n')}
  roleGroups:
    etcd: ["node[1:${controlPlanes}]"]
    control-plane: ["node[1:${controlPlanes}]"]
    worker: ["node[1:${hosts}]"]
  controlPlaneEndpoint: {domain: lb.kubesphere.local, address: "", port: 6443${controlPlanes > 1 ? ', internalLoadbalancer: haproxy' : ''}}
  kubernetes:
    version: v1.30.1
    containerManager: containerd
  network:
    plugin: calico
`)
  return file
}

interface PlanScaling {
  baselineMs: number
  rows: Array<{ hosts: number; meanMs: number; stddevMs: number; modules: number; artifacts: number }>
  runs: number
}

async function planScaling(cli: string): Promise<PlanScaling> {
  const sizes = [2, 100, 1000]
  const configs = sizes.map(scaledConfig)
  const shapes: Array<{ modules: number; artifacts: number }> = []
  for (const config of configs) {
    const planned = check(await runProcess(process.execPath, [cli, 'plan', '-f', config, '--json']), `plan ${config}`)
    const plan = JSON.parse(planned.stdout) as { hosts: unknown[]; modules: unknown[]; artifacts: unknown[] }
    shapes.push({ modules: plan.modules.length, artifacts: plan.artifacts.length })
  }
  const runs = Number(values['plan-runs'])
  const json = join(work, 'hyperfine.json')
  // Interleaving is not available in hyperfine; each command gets a warmup and the same number of runs.
  const commands = [`${process.execPath} -e 0`, ...configs.map((c) => `${process.execPath} ${cli} plan -f ${c} --json`)]
  progress(`plan scaling: hyperfine, ${runs} runs each`)
  await execFileAsync('hyperfine', ['-N', '--warmup', '1', '--runs', String(runs), '--export-json', json, ...commands], { maxBuffer: 16 << 20 })
  const results = (JSON.parse(readFileSync(json, 'utf8')) as { results: Array<{ mean: number; stddev: number }> }).results
  return {
    baselineMs: results[0].mean * 1000,
    rows: sizes.map((hosts, i) => ({ hosts, meanMs: results[i + 1].mean * 1000, stddevMs: results[i + 1].stddev * 1000, ...shapes[i] })),
    runs,
  }
}

// ---------------------------------------------------------------------------------------------------------
// 4: artifact resolution (bench/artifacts.ts prints its own table).

async function artifacts(): Promise<string> {
  progress(`artifact resolution: bench/artifacts.ts --scale ${values['artifacts-scale']} --runs ${values['artifacts-runs']}`)
  const result = check(await runProcess(join(repoRoot, 'node_modules/.bin/vite-node'), [
    'bench/artifacts.ts', '--scale', values['artifacts-scale'], '--runs', values['artifacts-runs'],
  ], { timeoutMs: 600_000 }), 'bench/artifacts.ts')
  return result.stdout.trim()
}

// ---------------------------------------------------------------------------------------------------------
// The report.

function median(numbers: number[]): number {
  if (numbers.length === 0) return 0
  const sorted = [...numbers].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const opt = (ms: number | undefined) => (ms === undefined ? '–' : `${ms.toFixed(0)} ms`)
const x = (ratio: number) => `${ratio.toFixed(2)}×`
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`
const conns = (m: RunMeasure) => {
  const min = Math.min(...m.connections)
  const max = Math.max(...m.connections)
  return min === max ? String(min) : `${min}–${max}`
}

function reportFanOut(results: FanOut[]): void {
  if (results.length === 0) return
  const first = results[0]
  say('### 1. Fan-out of the v1.30.1 containerd binary set, 2. rerun, 5. connections')
  say()
  say(`Files (${first.files.length}, ${mib(first.totalBytes)} per node, from the local mirror): ${first.files.map((f) => `${f.name} (${mib(f.bytes)})`).join(', ')}.`)
  say('kk-action: `kk-action deploy --until containerd` with the bundled CLI, **precheck and configure-os included**, ' +
    'sync-binaries (kubeadm/kubelet/kubectl + CNI plugins + kubelet unit) and containerd (install, configure, start, verify). ' +
    'scp: one `scp` process per node with every file, all nodes in parallel. Ansible: `ansible-playbook -f <nodes>` with its defaults ' +
    '(ssh with ControlPersist, pipelining off), `gather_facts: false`, one `copy` task looping over the files; ' +
    'each Ansible run starts without master connections. ' +
    (values['host-bashrc'] ? 'The nodes keep the host\'s /root/.bashrc (pyenv init on every SSH command). ' : 'Root\'s ~/.bashrc in the nodes is Debian\'s /etc/skel one (the host\'s runs pyenv init on every SSH command; see the latency table). ') +
    'One run of each per node count, in the order scp, kk-action, Ansible, kk-action rerun, Ansible rerun.')
  say()
  say('| nodes | scp | kk-action | Ansible copy | kk-action / scp | Ansible / kk-action | kk rerun | kk rerun / first | bytes uploaded first → rerun | changes first → rerun | Ansible rerun | Ansible rerun / kk rerun |')
  say('|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|')
  for (const r of results) {
    say(`| ${r.count} | ${s(r.scp.ms)} | ${s(r.kk.ms)} | ${s(r.ansible.ms)} | ${x(r.kk.ms / r.scp.ms)} | ${x(r.ansible.ms / r.kk.ms)} | ` +
      `${s(r.kkRerun.ms)} | ${x(r.kkRerun.ms / r.kk.ms)} | ${mib(r.kk.bytes ?? 0)} → ${r.kkRerun.bytes} B | ${r.kk.changes} → ${r.kkRerun.changes} | ` +
      `${s(r.ansibleRerun.ms)} | ${x(r.ansibleRerun.ms / r.kkRerun.ms)} |`)
  }
  say()
  say('TCP connections per host per run (sshd "Connection from <runner>" lines on each node; a range is min–max over nodes):')
  say()
  say('| nodes | scp | kk-action deploy | kk-action rerun | Ansible copy | Ansible rerun |')
  say('|---:|---:|---:|---:|---:|---:|')
  for (const r of results) say(`| ${r.count} | ${conns(r.scp)} | ${conns(r.kk)} | ${conns(r.kkRerun)} | ${conns(r.ansible)} | ${conns(r.ansibleRerun)} |`)
  say()
  say(`Per-exec latency on node1 (median of ${first.latency.samples} sequential \`true\`, measured right after the runs above; \`sshd\` runs each command through root's bash, which sources ~/.bashrc):`)
  say()
  say('| nodes up | kk-action exec (ssh2, open connection) | OpenSSH via ControlMaster | kk-action exec, sshd UsePAM no | kk-action exec, root\'s .bashrc = the host\'s (pyenv init) | no SSH (nsenter) |')
  say('|---:|---:|---:|---:|---:|---:|')
  for (const r of results) {
    const l = r.latency
    say(`| ${r.count} | ${l.kkExec.toFixed(0)} ms | ${l.sshMux.toFixed(0)} ms | ${opt(l.kkExecNoPam)} | ${opt(l.kkExecHostBashrc)} | ${l.nsenter.toFixed(0)} ms |`)
  }
  say()
  for (const r of results) {
    say(`kk-action per module, ${r.count} nodes (module wall time; execs and uploads per host, median over hosts; summed exec time on the slowest host):`)
    say()
    say('| module | first: wall | first: execs/host | first: exec time/host | first: uploads/host | first: upload time/host | rerun: wall | rerun: execs/host | rerun: exec time/host |')
    say('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for (const m of r.kk.modules ?? []) {
      const again = r.kkRerun.modules?.find((n) => n.id === m.id)
      say(`| ${m.id} | ${s(m.ms)} | ${m.execsPerHost} | ${s(m.commandMsPerHost)} | ${m.uploadsPerHost} | ${s(m.uploadMsPerHost)} | ${again ? s(again.ms) : '–'} | ${again?.execsPerHost ?? '–'} | ${again ? s(again.commandMsPerHost) : '–'} |`)
    }
    say()
  }
}

function reportPlan(p: PlanScaling): void {
  say('### 3. Plan scaling (whole process, `node dist/cli/index.js plan -f <config> --json`)')
  say()
  say(`hyperfine -N, 1 warmup + ${p.runs} runs each; baseline \`node -e 0\`: ${p.baselineMs.toFixed(0)} ms (mean).`)
  say()
  say('| hosts | modules | artifacts | mean | ± stddev | ratio to `node -e 0` |')
  say('|---:|---:|---:|---:|---:|---:|')
  for (const r of p.rows) say(`| ${r.hosts} | ${r.modules} | ${r.artifacts} | ${r.meanMs.toFixed(0)} ms | ${r.stddevMs.toFixed(0)} ms | ${x(r.meanMs / p.baselineMs)} |`)
  say()
}

async function main(): Promise<void> {
  const cli = await prepareCli()
  say(`## kk-action benchmarks, ${new Date().toISOString()}`)
  say()
  say(`Machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, node ${process.version}, load average at start ${loadavg().map((l) => l.toFixed(1)).join(' ')}` +
    ' (shared with other work: compare the ratios, not the absolute times). Reproduce: `npm run bench` (= `npx vite-node bench/run.ts`).')
  say()
  if (!skipped.has('fanout')) {
    progress('building the mirror')
    const mirror = await buildMirror()
    const server = await serveMirror(mirror.root)
    const results: FanOut[] = []
    try {
      for (const count of nodeCounts) results.push(await fanOut(cli, count, mirror, server))
    } finally {
      await server.close()
    }
    reportFanOut(results)
  }
  if (!skipped.has('plan')) reportPlan(await planScaling(cli))
  if (!skipped.has('artifacts')) {
    const table = await artifacts()
    say(table.replace(/^### Artifact resolution/m, '### 4. Artifact resolution'))
    say()
  }
  say(`Whole bench: ${s(Date.now() - started)}; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}.`)
  mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true })
  const file = join(repoRoot, 'bench', 'results', `${stamp}.md`)
  writeFileSync(file, out.join('\n') + '\n')
  progress(`written to ${relative(repoRoot, file)}`)
}

try {
  await main()
} finally {
  if (existsSync(work)) rmSync(work, { recursive: true, force: true })
}
