/**
 * Real, isolated SSH test nodes on one machine without Docker (design.md §5): per node a network
 * namespace with a veth on a private bridge, private mount/uts/ipc/pid/cgroup namespaces,
 * copy-on-write overlays over the host's /etc /usr /opt /var /home /root /srv, private /tmp and /run,
 * real directories on /var/lib/containerd and /var/lib/docker, and systemd as PID 1 running Debian's sshd.
 *
 *   const nodes = await startTestNodes({ count: 3 })
 *   nodes.nodes[0].address            // e.g. 10.213.7.11, sshd on port 22
 *   nodes.keyPath, nodes.knownHostsPath, nodes.users.nopass, nodes.password
 *   await nodes.stop()
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { chmod, chown, copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
const INIT_SCRIPT = join(here, 'node-init.sh')
/** The checkout: visible in every node at its own path, also where the node's /tmp would hide it (a CI clone). */
const CHECKOUT = join(here, '..', '..')

export type InitKind = 'systemd' | 'tini'

export interface TestNode {
  name: string
  address: string
  port: number
  /** Host pid of the node's PID 1 (changes on restart). */
  pid: number
  /** The node's copy-on-write upper directories: upperDir/etc, upperDir/var, ... */
  upperDir: string
  netns: string
  /** The host end of the node's veth (shape traffic to the node with `tc` on it). */
  hostInterface: string
}

export interface TestNodeUsers {
  root: 'root'
  /** Member of sudoers with NOPASSWD. */
  nopass: 'kkdeploy'
  /** Needs its password for sudo. */
  sudopw: 'kkpw'
}

export interface TestNodes {
  nodes: TestNode[]
  /** ed25519 private key (OpenSSH format) accepted for every user on every node. */
  keyPath: string
  privateKey: string
  /** known_hosts with every node's host key (plain `address keytype key` lines). */
  knownHostsPath: string
  users: TestNodeUsers
  /** Login password of `kkpw` and `root` (and `kkpw`'s sudo password). */
  password: string
  /** The runner's address on the nodes' bridge (what the nodes see as the client). */
  bridgeAddress: string
  bridgeInterface: string
  init: InitKind
  workDir: string
  node(name: string): TestNode
  /** Run a command inside a node's namespaces directly (not over SSH): for checks from outside. */
  exec(name: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>
  /** SIGKILL the node's PID 1: every process of the node dies at once, its address stays. */
  kill(name: string): Promise<void>
  /** Start a killed (or running) node again on the same disk state; resolves when sshd answers. */
  restart(name: string): Promise<void>
  /** Give the node a new ed25519 host key (known_hosts is not updated); returns the new public key line. */
  regenerateHostKey(name: string): Promise<string>
  /** The node's current host key as `type base64`. */
  hostPublicKey(name: string): Promise<string>
  stop(): Promise<void>
}

export interface StartOptions {
  count?: number
  /** Prefix of netns, bridge and veth names; unique per process by default. At most 8 characters. */
  prefix?: string
  init?: InitKind
  workDir?: string
  /** Milliseconds to wait for every sshd to answer. */
  readyTimeoutMs?: number
  /** What the nodes look like beyond a fresh Debian machine; default `plain` (see RunnerImageProfile). */
  profile?: NodeProfile
}

/**
 * `runner-image`: where it matters to kk-action, GitHub's ubuntu-24.04 runner image: the host's Debian docker
 * and containerd enabled (started at boot), no conntrack, socat, ipset or ipvsadm (their files and their dpkg
 * records hidden by overlay whiteouts), a helm and a kubectl of the runner's own in /usr/local/bin
 * (RUNNER_HELM, RUNNER_KUBECTL), and, with `aptRepo`, apt's only source a local repository (a directory with
 * .deb files and a Packages index), copied into the node at /srv/kk-apt.
 */
export interface RunnerImageProfile {
  kind: 'runner-image'
  aptRepo?: string
}

export type NodeProfile = { kind: 'plain' } | RunnerImageProfile

/** The runner image's own helm and kubectl (stand-ins, not the real programs): their bytes must survive a cleanup. */
export const RUNNER_HELM = `#!/bin/sh
# Stand-in for the runner image's own /usr/local/bin/helm (test/nodes/testnodes.ts, profile runner-image).
echo 'version.BuildInfo{Version:"v3.19.0", GitCommit:"runner-image", GoVersion:"go1.24"}'
`
export const RUNNER_KUBECTL = `#!/bin/sh
# Stand-in for the runner image's own /usr/local/bin/kubectl (test/nodes/testnodes.ts, profile runner-image).
echo 'Client Version: v1.34.1 (runner image)'
`
/** Packages the runner image lacks. */
export const RUNNER_IMAGE_MISSING = ['conntrack', 'socat', 'ipset', 'ipvsadm']
/** Units the runner image runs: Debian's docker.io and containerd here. */
export const RUNNER_IMAGE_UNITS = ['containerd.service', 'docker.service', 'docker.socket']

const USERS: TestNodeUsers = { root: 'root', nopass: 'kkdeploy', sudopw: 'kkpw' }
const UIDS = { kkdeploy: 2101, kkpw: 2102 }

/** Whether this kernel lets us create the namespaces (needs root). Resolves to the refusal, or undefined. */
export async function namespacesRefused(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'test nodes need root (network, mount and pid namespaces)'
  try {
    await run('unshare', ['--net', '--mount', '--uts', '--ipc', '--pid', '--cgroup', '--fork', 'true'])
    return undefined
  } catch (error) {
    return `the kernel refused namespaces: ${(error as { stderr?: string }).stderr?.trim() || String(error)}`
  }
}

/**
 * For `describe.skipIf`: the reason to skip node tests, or undefined. In CI (CI=true) node tests must
 * run, so a refusal throws instead of skipping.
 */
export async function testNodesSkipReason(): Promise<string | undefined> {
  const refused = await namespacesRefused()
  if (refused && process.env.CI === 'true') throw new Error(`CI must run the node tests, but ${refused}`)
  if (refused) console.warn(`skipping test-node tests: ${refused}`)
  return refused
}

let setsStarted = 0

export async function startTestNodes(options: StartOptions = {}): Promise<TestNodes> {
  const count = options.count ?? 3
  // Unique per call: names, cgroups and work dirs of an earlier set in this process are never reused.
  const prefix = options.prefix ?? `kt${process.pid.toString(36).slice(-4)}${(setsStarted++).toString(36)}`
  if (prefix.length > 8) throw new Error(`test node prefix ${prefix} is longer than 8 characters`)
  const workDir = options.workDir ?? join(tmpdir(), `kk-testnodes-${prefix}`)
  const requestedInit = options.init ?? (process.env.KK_TESTNODES_INIT as InitKind | undefined)
  recoverStale(prefix)
  const net = await createBridge(prefix)
  const cleanup = new Cleanup(prefix, net.bridge, workDir)
  try {
    await rm(workDir, { recursive: true, force: true })
    await mkdir(workDir, { recursive: true })
    const login = await generateKey(join(workDir, 'id_ed25519'), 'kk-testnodes')
    const password = `kk-${randomBytes(6).toString('hex')}`
    const passwordHash = (await run('openssl', ['passwd', '-6', password])).stdout.trim()
    const hierarchies = await cgroupHierarchies()
    const names = Array.from({ length: count }, (_, i) => `node${i + 1}`)
    const addresses = names.map((_, i) => `${net.subnet}.${11 + i}`)
    const hostsLines = names.map((n, i) => `${addresses[i]} ${n}`).join('\n')
    const nodes: TestNode[] = []
    const hostKeys: string[] = []
    for (const [i, name] of names.entries()) {
      const dir = join(workDir, name)
      const node: TestNode = { name, address: addresses[i], port: 22, pid: 0, upperDir: join(dir, 'upper'), netns: `${prefix}-${name}`, hostInterface: `${prefix}v${i}` }
      cleanup.netns.push(node.netns)
      await createNodeNetwork(node, node.hostInterface, net)
      hostKeys.push(await prepareUpper(node, dir, { login: login.publicKey, passwordHash, hostsLines, hierarchies, profile: options.profile ?? { kind: 'plain' } }))
      nodes.push(node)
    }
    const knownHostsPath = join(workDir, 'known_hosts')
    await writeFile(knownHostsPath, nodes.map((n, i) => `${n.address} ${hostKeys[i]}\n`).join(''))
    cleanup.nodes = nodes
    cleanup.save()
    const init = await boot(nodes, { workDir, hierarchies, prefix, requestedInit, readyTimeoutMs: options.readyTimeoutMs ?? 30_000 })
    cleanup.save()
    return handle({ nodes, workDir, init, prefix, hierarchies, password, knownHostsPath, keyPath: login.path, privateKey: login.privateKey, bridgeAddress: net.hostAddress, bridgeInterface: net.bridge, cleanup })
  } catch (error) {
    await cleanup.run()
    throw error
  }
}

interface BootInput {
  workDir: string
  hierarchies: Hierarchy[]
  prefix: string
  requestedInit?: InitKind
  readyTimeoutMs: number
}

/** systemd as PID 1; only when it cannot run here (and no init was asked for) tini, with a warning. */
async function boot(nodes: TestNode[], input: BootInput): Promise<InitKind> {
  const start = async (init: InitKind) => {
    await Promise.all(nodes.map((n) => launch(n, input.workDir, init, input.hierarchies, input.prefix)))
    const deadline = Date.now() + input.readyTimeoutMs
    await Promise.all(nodes.map((n) => waitForSsh(n, deadline)))
  }
  const init = input.requestedInit ?? 'systemd'
  try {
    await start(init)
    return init
  } catch (error) {
    if (input.requestedInit) throw error
    await Promise.all(nodes.map((n) => killNode(n)))
    console.warn(`test nodes: systemd could not run as PID 1 here, so the nodes run sshd under tini and systemctl will not work in them. systemd's failure: ${(error as Error).message}`)
    await start('tini')
    return 'tini'
  }
}

interface HandleParts {
  nodes: TestNode[]
  workDir: string
  init: InitKind
  prefix: string
  hierarchies: Hierarchy[]
  password: string
  knownHostsPath: string
  keyPath: string
  privateKey: string
  bridgeAddress: string
  bridgeInterface: string
  cleanup: Cleanup
}

function handle(parts: HandleParts): TestNodes {
  const { nodes, workDir, init, prefix, hierarchies, cleanup } = parts
  const node = (name: string): TestNode => {
    const found = nodes.find((n) => n.name === name)
    if (!found) throw new Error(`no test node ${name}`)
    return found
  }
  return {
    nodes,
    keyPath: parts.keyPath,
    privateKey: parts.privateKey,
    knownHostsPath: parts.knownHostsPath,
    users: USERS,
    password: parts.password,
    bridgeAddress: parts.bridgeAddress,
    bridgeInterface: parts.bridgeInterface,
    init,
    workDir,
    node,
    exec: (name, args, input) => execInNode(node(name), args, input),
    kill: (name) => killNode(node(name)),
    async restart(name) {
      const n = node(name)
      await killNode(n)
      await launch(n, workDir, init, hierarchies, prefix)
      cleanup.save()
      await waitForSsh(n, Date.now() + 30_000)
    },
    async regenerateHostKey(name) {
      const n = node(name)
      // Inside the node: writing to a mounted overlay's upper dir from outside is undefined behaviour.
      const make = await execInNode(n, ['sh', '-c', `rm -f /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub && ssh-keygen -q -t ed25519 -N '' -C root@${name} -f /etc/ssh/ssh_host_ed25519_key`])
      if (make.code !== 0) throw new Error(`cannot make a new host key on ${name}: ${make.stderr}`)
      // sshd loads its host keys at start only.
      if (init === 'systemd') await execInNode(n, ['systemctl', 'restart', 'ssh'])
      else await this.restart(name)
      await waitForSsh(n, Date.now() + 30_000)
      return this.hostPublicKey(name)
    },
    async hostPublicKey(name) {
      const { stdout } = await execInNode(node(name), ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'])
      return stdout.trim().split(' ').slice(0, 2).join(' ')
    },
    stop: () => cleanup.run(),
  }
}

// ---------------------------------------------------------------- network

interface BridgeNet {
  bridge: string
  subnet: string
  hostAddress: string
}

/** A bridge with the runner's address on a free 10.213.X.0/24; nothing routes it anywhere else. */
async function createBridge(prefix: string): Promise<BridgeNet> {
  // Two processes starting nodes at once would read the same free subnet: pick and claim it under a lock.
  return withSubnetLock(() => claimSubnet(prefix))
}

async function withSubnetLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = join(STATE_DIR, 'subnet.lock')
  mkdirSync(STATE_DIR, { recursive: true })
  for (const deadline = Date.now() + 15_000; ;) {
    try {
      mkdirSync(lock)
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      if (Date.now() > deadline) { rmSync(lock, { recursive: true, force: true }); continue } // its owner died
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

async function claimSubnet(prefix: string): Promise<BridgeNet> {
  const bridge = `${prefix}br`
  const used = (await run('ip', ['-4', '-o', 'addr', 'show'])).stdout
  for (let x = 1; x < 255; x++) {
    const subnet = `10.213.${x}`
    if (used.includes(` ${subnet}.`)) continue
    await run('ip', ['link', 'add', bridge, 'type', 'bridge'])
    try {
      await run('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge])
      await run('ip', ['link', 'set', bridge, 'up'])
    } catch (error) {
      await run('ip', ['link', 'del', bridge]).catch(() => undefined)
      throw error
    }
    return { bridge, subnet, hostAddress: `${subnet}.1` }
  }
  throw new Error('no free 10.213.X.0/24 subnet for test nodes')
}

async function createNodeNetwork(node: TestNode, hostVeth: string, net: BridgeNet): Promise<void> {
  const ns = node.netns
  await run('ip', ['netns', 'add', ns])
  await run('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
  await run('ip', ['link', 'set', hostVeth, 'master', net.bridge, 'up'])
  await run('ip', ['-n', ns, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0'])
  await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
}

// ---------------------------------------------------------------- filesystem

interface Hierarchy {
  /** Directory name under /sys/fs/cgroup inside the node. */
  dir: string
  type: 'cgroup' | 'cgroup2'
  options: string
  /** Where our own cgroup of this hierarchy is on the host. */
  hostPath: string
}

/** Our cgroup in every mounted hierarchy, so each node gets a cgroup namespace under our own cgroups. */
async function cgroupHierarchies(): Promise<Hierarchy[]> {
  const own = (await readFile('/proc/self/cgroup', 'utf8')).trim().split('\n').map((line) => {
    const [, controllers, path] = line.match(/^\d+:([^:]*):(.*)$/) ?? []
    return { controllers, path }
  })
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).trim().split('\n').map((line) => {
    const [left, right] = line.split(' - ')
    const fields = left.split(' ')
    const [type, , superOptions] = right.split(' ')
    return { root: fields[3], mountPoint: fields[4], type, superOptions: superOptions.split(',') }
  })
  const result: Hierarchy[] = []
  for (const { controllers, path } of own) {
    const mount = mounts.find((m) =>
      controllers === ''
        ? m.type === 'cgroup2'
        : m.type === 'cgroup' && controllers.split(',').every((c) => m.superOptions.includes(c)),
    )
    if (!mount || mount.root !== '/') continue
    const dir = controllers === '' ? 'unified' : controllers.replace(/^name=/, '')
    const options = controllers === '' ? '' : controllers.startsWith('name=') ? `none,${controllers}` : controllers
    result.push({ dir, type: controllers === '' ? 'cgroup2' : 'cgroup', options, hostPath: join(mount.mountPoint, path) })
  }
  return result
}

interface PrepareInput {
  login: string
  passwordHash: string
  hostsLines: string
  hierarchies: Hierarchy[]
  profile: NodeProfile
}

/** Writes the node's identity into its upper layer before boot; returns its host public key line. */
async function prepareUpper(node: TestNode, dir: string, input: PrepareInput): Promise<string> {
  const upper = node.upperDir
  const etc = join(upper, 'etc')
  await mkdir(join(etc, 'ssh/sshd_config.d'), { recursive: true })
  await mkdir(join(etc, 'sudoers.d'), { recursive: true })
  const hostKey = await generateKey(join(etc, 'ssh/ssh_host_ed25519_key'), `root@${node.name}`)
  await writeFile(join(etc, 'ssh/sshd_config.d/kk-testnode.conf'), [
    'PermitRootLogin yes', 'PasswordAuthentication yes', 'KbdInteractiveAuthentication yes',
    'PubkeyAuthentication yes', 'UseDNS no', 'LogLevel VERBOSE',
    'HostKey /etc/ssh/ssh_host_ed25519_key', '',
  ].join('\n'))
  await writeUsers(etc, input.passwordHash)
  await writeFile(join(etc, 'sudoers.d/kk-testnode'), `kkdeploy ALL=(ALL) NOPASSWD: ALL\nkkpw ALL=(ALL) ALL\n`, { mode: 0o440 })
  await writeFile(join(etc, 'hostname'), `${node.name}\n`)
  await writeFile(join(etc, 'hosts'), `127.0.0.1 localhost\n127.0.1.1 ${node.name}\n${input.hostsLines}\n`)
  await rm(join(etc, 'resolv.conf'), { force: true })
  // Empty: apt and friends inside a node fail fast instead of waiting on DNS.
  await writeFile(join(etc, 'resolv.conf'), '')
  await rm(join(etc, 'machine-id'), { force: true })
  await writeFile(join(etc, 'machine-id'), `${randomBytes(16).toString('hex')}\n`)
  await disableHostServices(etc, input.profile.kind === 'runner-image' ? RUNNER_IMAGE_UNITS : [])
  if (input.profile.kind === 'runner-image') await applyRunnerImage(upper, input.profile)
  for (const user of ['root', 'kkdeploy', 'kkpw'] as const) await authorize(upper, user, input.login)
  // A fresh Debian root: this host's /root/.bashrc runs `pyenv init`, and bash sources it for every
  // SSH command (Debian's SSH_SOURCE_BASHRC), which cost ~0.3 s per exec on the nodes.
  await copyFile('/etc/skel/.bashrc', join(upper, 'root/.bashrc'))
  await writeFile(join(dir, 'cgroup-hierarchies'), input.hierarchies.map((h) => `${h.dir} ${h.type} ${h.options || '-'}\n`).join(''))
  return hostKey.publicKey
}

async function writeUsers(etc: string, passwordHash: string): Promise<void> {
  const add = async (file: string, lines: string[], transform?: (line: string) => string) => {
    const base = (await readFile(join('/etc', file), 'utf8')).trimEnd().split('\n')
    const kept = base.filter((l) => !/^(kkdeploy|kkpw):/.test(l)).map((l) => (transform ? transform(l) : l))
    await writeFile(join(etc, file), [...kept, ...lines, ''].join('\n'), { mode: file === 'shadow' ? 0o640 : 0o644 })
  }
  await add('passwd', [
    `kkdeploy:x:${UIDS.kkdeploy}:${UIDS.kkdeploy}::/home/kkdeploy:/bin/bash`,
    `kkpw:x:${UIDS.kkpw}:${UIDS.kkpw}::/home/kkpw:/bin/bash`,
  ])
  await add('group', [`kkdeploy:x:${UIDS.kkdeploy}:`, `kkpw:x:${UIDS.kkpw}:`])
  await add('shadow', [`kkdeploy:*:19000:0:99999:7:::`, `kkpw:${passwordHash}:19000:0:99999:7:::`],
    (l) => (l.startsWith('root:') ? l.replace(/^root:[^:]*:/, `root:${passwordHash}:`) : l))
  const shadowGroup = (await readFile('/etc/group', 'utf8')).match(/^shadow:x:(\d+):/m)
  if (shadowGroup) await chown(join(etc, 'shadow'), 0, Number(shadowGroup[1]))
}

/** A node is a fresh machine: the host's enabled services (docker, etcd, postgres...) are not enabled, sshd is. */
async function disableHostServices(etc: string, keep: string[]): Promise<void> {
  const systemDir = join(etc, 'systemd/system')
  // A node has no console: systemd's container getty would fail and restart in a loop.
  await mkdir(systemDir, { recursive: true })
  for (const unit of ['console-getty.service', 'container-getty@.service']) await symlink('/dev/null', join(systemDir, unit))
  const wants = (await run('find', ['/etc/systemd/system', '-mindepth', '2', '-maxdepth', '2', '-path', '*.wants/*'])).stdout
  for (const link of wants.trim().split('\n').filter(Boolean)) {
    if (link.endsWith('/ssh.service') || keep.some((unit) => link.endsWith(`/${unit}`))) continue
    const whiteout = join(systemDir, link.slice('/etc/systemd/system/'.length))
    await mkdir(dirname(whiteout), { recursive: true })
    await makeWhiteout(whiteout)
  }
}

/** The runner-image profile's changes to a node's upper layer (see RunnerImageProfile). */
async function applyRunnerImage(upper: string, profile: RunnerImageProfile): Promise<void> {
  const status = await readFile('/var/lib/dpkg/status', 'utf8')
  const stanzas = status.split(/\n(?=Package: )/)
  const hidden = (stanza: string) => RUNNER_IMAGE_MISSING.includes(stanza.match(/^Package: (\S+)/)?.[1] ?? '')
  for (const name of RUNNER_IMAGE_MISSING) {
    const files = await run('dpkg-query', ['-L', name]).then((r) => r.stdout.split('\n').filter(Boolean), () => [] as string[])
    const info = (await run('find', ['/var/lib/dpkg/info', '-maxdepth', '1', '(', '-name', `${name}.*`, '-o', '-name', `${name}:*`, ')'])).stdout
    const paths = new Set<string>()
    for (const listed of [...files, ...info.split('\n').filter(Boolean)]) {
      // /sbin/conntrack is /usr/sbin/conntrack (merged /usr): whiteouts go where the node's overlays are.
      const parent = await run('readlink', ['-f', dirname(listed)]).then((r) => r.stdout.trim(), () => '')
      const path = join(parent, basename(listed))
      const kind = await run('stat', ['-c', '%F', path]).then((r) => r.stdout.trim(), () => '')
      if (kind !== '' && kind !== 'directory' && /^\/(etc|usr|opt|var)\//.test(path)) paths.add(path)
    }
    for (const path of paths) {
      await mkdir(join(upper, dirname(path)), { recursive: true })
      await makeWhiteout(join(upper, path))
    }
  }
  await mkdir(join(upper, 'var/lib/dpkg'), { recursive: true })
  await writeFile(join(upper, 'var/lib/dpkg/status'), stanzas.filter((stanza) => !hidden(stanza)).join('\n'))
  await mkdir(join(upper, 'usr/local/bin'), { recursive: true })
  await writeFile(join(upper, 'usr/local/bin/helm'), RUNNER_HELM, { mode: 0o755 })
  await writeFile(join(upper, 'usr/local/bin/kubectl'), RUNNER_KUBECTL, { mode: 0o755 })
  if (!profile.aptRepo) return
  // The node cannot reach Debian's mirrors: the local repository is apt's only source.
  const sources = (await run('find', ['/etc/apt/sources.list', '/etc/apt/sources.list.d', '-maxdepth', '1', '-type', 'f'])
    .catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }))).stdout
  await mkdir(join(upper, 'etc/apt/sources.list.d'), { recursive: true })
  for (const file of sources.split('\n').filter(Boolean)) await makeWhiteout(join(upper, file))
  await writeFile(join(upper, 'etc/apt/sources.list.d/kk-local.list'), 'deb [trusted=yes] file:/srv/kk-apt ./\n')
  await mkdir(join(upper, 'srv'), { recursive: true })
  await run('cp', ['-r', profile.aptRepo, join(upper, 'srv/kk-apt')])
}

/** An overlayfs whiteout (char device 0:0) hides the lower file. */
async function makeWhiteout(path: string): Promise<void> {
  await run('mknod', [path, 'c', '0', '0'])
}

async function authorize(upper: string, user: 'root' | 'kkdeploy' | 'kkpw', publicKey: string): Promise<void> {
  const home = user === 'root' ? join(upper, 'root') : join(upper, 'home', user)
  const uid = user === 'root' ? 0 : UIDS[user]
  await mkdir(join(home, '.ssh'), { recursive: true })
  await writeFile(join(home, '.ssh/authorized_keys'), `${publicKey}\n`, { mode: 0o600 })
  for (const path of [home, join(home, '.ssh'), join(home, '.ssh/authorized_keys')]) await chown(path, uid, uid)
  await chmod(join(home, '.ssh'), 0o700)
  if (user !== 'root') await chmod(home, 0o755)
}

async function generateKey(path: string, comment: string): Promise<{ path: string; privateKey: string; publicKey: string }> {
  await mkdir(dirname(path), { recursive: true })
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path])
  const publicKey = (await readFile(`${path}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ')
  return { path, privateKey: await readFile(path, 'utf8'), publicKey }
}

// ---------------------------------------------------------------- processes

/** Starts the node's PID 1: joins our cgroups' per-node children, the netns, then new namespaces. */
async function launch(node: TestNode, workDir: string, init: InitKind, hierarchies: Hierarchy[], prefix: string): Promise<void> {
  const cgroupDirs = hierarchies.map((h) => join(h.hostPath, `${prefix}-${node.name}`))
  for (const dir of cgroupDirs) await makeCgroup(dir)
  const script = [
    'set -e',
    'for d in "$@"; do echo $$ > "$d/cgroup.procs"; done',
    `exec nsenter --net=/run/netns/${node.netns} unshare --mount --uts --ipc --pid --cgroup --fork --mount-proc --propagation private ${INIT_SCRIPT} ${node.name} ${join(workDir, node.name)} ${init} ${CHECKOUT}`,
  ].join('\n')
  const consoleLog = join(workDir, node.name, 'console.log')
  const output = openSync(consoleLog, 'a')
  const child = spawn('bash', ['-c', script, 'launch', ...cgroupDirs], { detached: true, stdio: ['ignore', output, output] })
  closeSync(output)
  child.unref()
  const stderr = () => readFileSyncSafe(consoleLog).slice(-2000)
  const unsharePid = child.pid
  if (!unsharePid) throw new Error(`could not start test node ${node.name}`)
  node.pid = await waitForChild(unsharePid, () => (child.exitCode !== null ? `test node ${node.name} exited: ${stderr()}` : undefined))
}

async function makeCgroup(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  // A new cpuset cgroup starts with no CPUs and no memory nodes: a process cannot join until they are set.
  for (const file of ['cpuset.cpus', 'cpuset.mems']) {
    const parentValue = await readFile(join(dirname(dir), file), 'utf8').catch(() => undefined)
    if (parentValue !== undefined) await writeFile(join(dir, file), parentValue)
  }
}

async function waitForChild(parent: number, failed: () => string | undefined): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const problem = failed()
    if (problem) throw new Error(problem)
    try {
      const children = (await readFile(`/proc/${parent}/task/${parent}/children`, 'utf8')).trim()
      const comm = (await readFile(`/proc/${parent}/comm`, 'utf8')).trim()
      if (children && comm === 'unshare') return Number(children.split(' ')[0])
    } catch {
      // not there yet
    }
    await sleep(10)
  }
  throw new Error(`test node PID 1 did not appear under ${parent}`)
}

async function waitForSsh(node: TestNode, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    if (await sshBanner(node.address, node.port)) return
    await sleep(50)
  }
  const console = readFileSyncSafe(join(dirname(node.upperDir), 'console.log')).slice(-3000)
  throw new Error(`sshd on test node ${node.name} (${node.address}) did not answer in time; its console:\n${console}`)
}

function sshBanner(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket()
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('data', (data) => done(data.toString().startsWith('SSH-')))
    socket.once('error', () => done(false))
    socket.connect(port, address)
  })
}

async function killNode(node: TestNode): Promise<void> {
  if (!node.pid || !alive(node.pid)) return
  process.kill(node.pid, 'SIGKILL')
  for (let i = 0; i < 500 && alive(node.pid); i++) await sleep(10)
}

/** Running and not a zombie. */
function alive(pid: number): boolean {
  const state = readFileSyncSafe(`/proc/${pid}/stat`).split(') ')[1]
  return state !== undefined && !state.startsWith('Z')
}

function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

function execInNode(node: TestNode, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', ['-t', String(node.pid), '-a', '--', ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    child.stdin.on('error', () => undefined)
    child.stdin.end(input ?? '')
  })
}

// ---------------------------------------------------------------- teardown

const STATE_DIR = '/run/kk-testnodes'

interface CleanupState {
  owner: number
  prefix: string
  bridge: string
  workDir: string
  netns: string[]
  veths: string[]
  pids: number[]
}

/**
 * Removes exactly what startTestNodes made: its PID 1s, netns, veths, bridge, cgroups and work dir.
 * Runs on stop(), on process exit and on SIGINT/SIGTERM/SIGHUP; a state file under /run lets the next
 * start with the same prefix clean up after a process that was SIGKILLed.
 */
class Cleanup {
  nodes: TestNode[] = []
  netns: string[] = []
  private done = false
  private readonly onExit = () => this.runSync()
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.runSync()
    process.kill(process.pid, signal)
  }

  constructor(
    private readonly prefix: string,
    private readonly bridge: string,
    private readonly workDir: string,
  ) {
    process.once('exit', this.onExit)
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, this.onSignal)
    this.save()
  }

  /** Records what to remove; call again whenever a node's PID 1 changes. */
  save(): void {
    const state: CleanupState = {
      owner: process.pid, prefix: this.prefix, bridge: this.bridge, workDir: this.workDir,
      netns: this.netns, veths: this.nodes.map((n) => n.hostInterface), pids: this.nodes.map((n) => n.pid).filter(Boolean),
    }
    mkdirSync(STATE_DIR, { recursive: true })
    writeFileSync(statePath(this.prefix), JSON.stringify(state))
  }

  async run(): Promise<void> {
    if (this.done) return
    await Promise.all(this.nodes.map((n) => killNode(n)))
    this.runSync()
  }

  private runSync(): void {
    if (this.done) return
    this.done = true
    process.removeListener('exit', this.onExit)
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(signal, this.onSignal)
    removeAll({
      owner: process.pid, prefix: this.prefix, bridge: this.bridge, workDir: this.workDir, netns: this.netns,
      veths: this.nodes.map((n) => n.hostInterface), pids: this.nodes.map((n) => n.pid).filter(Boolean),
    })
  }
}

function statePath(prefix: string): string {
  return join(STATE_DIR, `${prefix}.json`)
}

function removeAll(state: CleanupState): void {
  for (const pid of state.pids) if (alive(pid) && isTestNodeInit(pid)) process.kill(pid, 'SIGKILL')
  const quiet = (cmd: string, args: string[]) => {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' })
    } catch {
      // already gone
    }
  }
  for (const ns of state.netns) quiet('ip', ['netns', 'del', ns])
  for (const veth of state.veths) quiet('ip', ['link', 'del', veth])
  quiet('ip', ['link', 'del', state.bridge])
  quiet('bash', ['-c', `find /sys/fs/cgroup -depth -type d -path "*/${state.prefix}-node*" -exec rmdir {} + 2>/dev/null; true`])
  quiet('rm', ['-rf', state.workDir])
  quiet('rm', ['-f', statePath(state.prefix)])
}

/** Guards against a recycled pid: only a process whose parent is our `unshare` launcher is killed. */
function isTestNodeInit(pid: number): boolean {
  const parent = readFileSyncSafe(`/proc/${pid}/stat`).split(') ')[1]?.split(' ')[1]
  return !!parent && readFileSyncSafe(`/proc/${parent}/cmdline`).includes('node-init.sh')
}

/** Leftovers of an earlier run with this prefix whose process died without cleaning up. */
function recoverStale(prefix: string): void {
  const text = readFileSyncSafe(statePath(prefix))
  if (!text) return
  const state = JSON.parse(text) as CleanupState
  if (state.owner !== process.pid && alive(state.owner)) {
    throw new Error(`test node prefix ${prefix} is in use by process ${state.owner}; pick another prefix`)
  }
  removeAll(state)
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
