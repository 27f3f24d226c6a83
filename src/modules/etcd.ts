import type { Host } from '../config/types.js'
import { UserError } from '../errors.js'
import { raw, sh } from '../nodes/quote.js'
import type { PlanContext } from '../plan/types.js'
import type { Task, TaskContext } from '../pipeline/types.js'
import { isPrivateKey, pkiFileNames, preparePki, wantedCerts, type PemFiles } from './etcd-certs.js'
import {
  BACKUP_SERVICE_FILE, BACKUP_TIMER_FILE, backupScriptPath, BIN_DIR, certFiles, clientUrl, ETCD_CERT_DIR, ETCD_ENV_FILE,
  ETCD_UNIT, ETCD_UNIT_FILE, etcdPorts, memberName, peerUrl, renderBackupScript, renderBackupService, renderBackupTimer,
  renderEtcdEnv, type Bootstrap,
} from './etcd-config.js'
import { decideRoles, foreignMembers, foreignMembersMessage, freshBootstrap, joiningInitialCluster, type MemberRole } from './etcd-membership.js'
import { etcdctl, inspectMember, listMembers, parseMemberList, readPemFiles, waitUntil, type MemberState } from './etcd-remote.js'
import type { ClusterConfig } from '../config/types.js'
import { defineModule, placeholder, type NodeFile } from './module.js'
import { clearPendingRestart, ensureServiceState, installFromArchive, putFiles, putNodeFile, requestRestart, type FileContent } from './steps.js'

/** What later modules (kubeadm-init) read from `t.shared` under ETCD_SHARED_KEY. */
export interface EtcdClientInfo {
  /** https://<internalAddress>:<port> of every etcd host. */
  endpoints: string[]
  caFile: string
  caPem: string
  /** Per control-plane host: its client certificate (node-<host>.pem) for kube-apiserver. */
  clients: Record<string, { certFile: string; keyFile: string; certPem: string; keyPem: string }>
}
export const ETCD_SHARED_KEY = 'etcd'

const START_TIMEOUT_MS = 120_000

/** Facts gathered during one run of the module, shared by its tasks. */
class EtcdRun {
  readonly states = new Map<string, MemberState>()
  roles = new Map<string, MemberRole>()
  /**
   * Hosts where certificates, binaries, unit or environment changed (now, or in a run that failed before
   * restarting): a running etcd must restart. Remembered on the node until it has.
   */
  readonly touched = new Set<string>()
  /** Hosts that joined in this run, in order: the next joiner counts them as running members. */
  readonly joined = new Set<string>()
  pki: PemFiles = new Map()

  constructor(readonly ctx: PlanContext, readonly hosts: Host[]) {}

  get endpoints(): string[] {
    return this.hosts.map((host) => clientUrl(host, etcdPorts(this.ctx.config)))
  }

  state(host: Host): MemberState {
    return this.states.get(host.name)!
  }

  /** The first etcd host holding a CA: the source of the existing PKI. Else the first etcd host. */
  pkiSource(): Host {
    return this.hosts.find((host) => this.state(host).caSha256) ?? this.hosts[0]
  }

  hostsWhere(kind: MemberRole['kind']): Host[] {
    return this.hosts.filter((host) => this.roles.get(host.name)?.kind === kind)
  }

  /** New members, and members found stopped: started together, without waiting for each other. */
  hostsToStart(): Host[] {
    return this.hosts.filter((host) => {
      const kind = this.roles.get(host.name)?.kind
      return kind === 'bootstrap' || (kind === 'member' && !this.state(host).active)
    })
  }

  /** Members whose running etcd must pick up changed files: one at a time, so quorum holds. */
  membersToRestart(): Host[] {
    return this.hostsWhere('member').filter((host) => this.touched.has(host.name) && this.state(host).active)
  }
}

// ── tasks ────────────────────────────────────────────────────────────────────────────────────────

async function inspect(run: EtcdRun, t: TaskContext): Promise<void> {
  const state = await inspectMember(t)
  run.states.set(t.host.name, state)
  if (state.restartPending) run.touched.add(t.host.name)
}

async function markTouched(run: EtcdRun, t: TaskContext): Promise<void> {
  if (run.touched.has(t.host.name) && run.state(t.host).restartPending) return
  run.touched.add(t.host.name)
  await requestRestart(t, 'etcd')
  run.state(t.host).restartPending = true
}

async function restarted(run: EtcdRun, t: TaskContext): Promise<void> {
  if (run.state(t.host).restartPending) await clearPendingRestart(t, 'etcd')
  run.state(t.host).restartPending = false
  run.touched.delete(t.host.name)
}

/** Runs once, on the PKI source host: reads its certificates (if any) and issues what is missing. */
async function preparePkiOnce(run: EtcdRun, t: TaskContext): Promise<void> {
  run.roles = decideRoles(run.hosts, run.states, etcdPorts(run.ctx.config))
  const existing = run.state(t.host).caSha256 ? await readPemFiles(t) : new Map<string, string>()
  const controlPlanes = run.ctx.hostsWithRole('control-plane')
  const pki = await preparePki(existing, wantedCerts(run.hosts, controlPlanes))
  run.pki = pki.files
  if (pki.createdCA) t.log('created a new etcd CA')
  if (pki.issued.length) t.log(`issued ${pki.issued.filter((f) => !isPrivateKey(f)).join(', ')}`)
  t.shared.set(ETCD_SHARED_KEY, clientInfo(run, controlPlanes))
}

function clientInfo(run: EtcdRun, controlPlanes: Host[]): EtcdClientInfo {
  const pem = (path: string) => run.pki.get(path.slice(ETCD_CERT_DIR.length + 1))!
  return {
    endpoints: run.endpoints,
    caFile: certFiles.ca,
    caPem: pem(certFiles.ca),
    clients: Object.fromEntries(controlPlanes.map((host) => [host.name, {
      certFile: certFiles.node(host.name), keyFile: certFiles.nodeKey(host.name),
      certPem: pem(certFiles.node(host.name)), keyPem: pem(certFiles.nodeKey(host.name)),
    }])),
  }
}

/** The certificate directory's files by name: keys 0600. */
export function certificateFiles(pki: PemFiles): Map<string, FileContent> {
  return new Map([...pki].map(([name, content]) => [name, { content, mode: isPrivateKey(name) ? 0o600 : 0o644 }]))
}

/** The whole certificate directory on every etcd host (KubeKey's layout); keys 0600 in a 0700 directory. */
async function installCertificates(run: EtcdRun, t: TaskContext): Promise<void> {
  await t.exec(sh`install -d -m 0700 ${ETCD_CERT_DIR}`)
  // Only these are read by the host's own etcd: a change elsewhere (a new host's certificates) needs no restart.
  const readByEtcd = new Set([certFiles.ca, certFiles.member(t.host.name), certFiles.memberKey(t.host.name)])
  const changed = await putFiles(t, ETCD_CERT_DIR, certificateFiles(run.pki))
  if (changed.some((name) => readByEtcd.has(`${ETCD_CERT_DIR}/${name}`))) await markTouched(run, t)
  // An upload that finds the same bytes leaves the mode alone; keys made by someone else may be readable.
  const loosened = await t.exec(sh`find ${ETCD_CERT_DIR} -maxdepth 1 -name '*-key.pem' ! -perm 0600 -exec chmod 0600 {} + -print`)
  if (loosened.stdout.trim()) t.changed()
}

async function installEtcdBinaries(run: EtcdRun, t: TaskContext): Promise<void> {
  // The members the catalog promises for the etcd archive (etcdutl, 3.5+, is not among them).
  const { artifact } = t.artifact('etcd')
  const top = `etcd-v${artifact.version}-linux-${artifact.arch}`
  const changed = await installFromArchive(t, 'etcd', {
    [`${top}/etcd`]: `${BIN_DIR}/etcd`,
    [`${top}/etcdctl`]: `${BIN_DIR}/etcdctl`,
  })
  if (changed) await markTouched(run, t)
}

/** etcd.env and etcd.service; for a member that ran before, its bootstrap settings are kept (etcd ignores them now). */
async function writeMemberConfig(run: EtcdRun, t: TaskContext, bootstrap: Bootstrap): Promise<void> {
  const envChanged = await putNodeFile(t, etcdEnvFile(t.config, t.host, memberNameOf(run, t.host), bootstrap, run.ctx.versions.etcd))
  const unitChanged = await putNodeFile(t, ETCD_UNIT_NODE_FILE)
  await ensureServiceState(t, { enable: ['etcd'], unitsChanged: unitChanged })
  if (envChanged || unitChanged) await markTouched(run, t)
}

export function etcdEnvFile(config: ClusterConfig, host: Host, name: string, bootstrap: Bootstrap, version: string): NodeFile {
  return { path: ETCD_ENV_FILE, mode: 0o644, content: renderEtcdEnv(config, host, name, bootstrap, version) }
}

const ETCD_UNIT_NODE_FILE: NodeFile = { path: ETCD_UNIT_FILE, mode: 0o644, content: ETCD_UNIT }

function memberNameOf(run: EtcdRun, host: Host): string {
  const state = run.state(host)
  return state.hasData && state.env.name ? state.env.name : memberName(host)
}

function bootstrapOf(run: EtcdRun, host: Host): Bootstrap {
  const role = run.roles.get(host.name)!
  if (role.kind === 'bootstrap') return role.bootstrap
  const { env } = run.state(host)
  if (env.state && env.initialCluster) return { state: env.state === 'new' ? 'new' : 'existing', initialCluster: env.initialCluster }
  const ports = etcdPorts(run.ctx.config)
  return { state: 'existing', initialCluster: run.hosts.map((h) => `${memberNameOf(run, h)}=${peerUrl(h, ports)}`).join(',') }
}

async function configureMember(run: EtcdRun, t: TaskContext): Promise<void> {
  await writeMemberConfig(run, t, bootstrapOf(run, t.host))
}

/**
 * Bootstrapping members start together without waiting: with Type=notify, `systemctl start` returns only
 * once the member has quorum, which needs the others up too.
 */
async function startMember(run: EtcdRun, t: TaskContext): Promise<void> {
  const state = run.state(t.host)
  if (state.active && !run.touched.has(t.host.name)) return
  await t.exec(raw(state.active ? 'systemctl restart --no-block etcd' : 'systemctl start --no-block etcd'))
  t.changed()
  await restarted(run, t)
}

/** A running member picks up new certificates, binaries or settings; the others keep quorum meanwhile. */
async function restartMember(run: EtcdRun, t: TaskContext): Promise<void> {
  await t.exec(raw('systemctl restart etcd'), { timeoutMs: START_TIMEOUT_MS })
  t.changed()
  await waitForLocalHealth(run, t)
  await restarted(run, t)
}

/**
 * A host added to a running cluster: announced with `member add` (unless an earlier run already did),
 * then started with the current membership as its initial cluster.
 */
async function joinMember(run: EtcdRun, t: TaskContext): Promise<void> {
  const ports = etcdPorts(run.ctx.config)
  const ownPeer = peerUrl(t.host, ports)
  const running = run.hosts.filter((host) => run.roles.get(host.name)?.kind !== 'join' || run.joined.has(host.name))
  const endpoints = running.map((host) => clientUrl(host, ports))
  let members = await listMembers(t, endpoints)
  if (!members.some((m) => m.peerUrls.includes(ownPeer))) {
    await t.exec(etcdctl(t.host, endpoints, ['member', 'add', memberName(t.host), `--peer-urls=${ownPeer}`]))
    t.changed()
    members = await listMembers(t, endpoints)
  }
    await writeMemberConfig(run, t, { state: 'existing', initialCluster: joiningInitialCluster(members, ownPeer, memberName(t.host)) })
  await t.exec(raw(run.state(t.host).active ? 'systemctl restart --no-block etcd' : 'systemctl start --no-block etcd'))
  t.changed()
  await waitForLocalHealth(run, t)
  await restarted(run, t)
  run.joined.add(t.host.name)
}

async function waitForLocalHealth(run: EtcdRun, t: TaskContext): Promise<void> {
  const own = [clientUrl(t.host, etcdPorts(run.ctx.config))]
  await waitUntil(async () => {
    const health = await t.exec(etcdctl(t.host, own, ['endpoint', 'health']), { allowFailure: true })
    return health.code === 0 ? undefined : `etcd on ${t.host.name} is not healthy: ${lastLine(health.stderr || health.stdout)}`
  }, START_TIMEOUT_MS, 2000)
}

/** Every endpoint healthy over TLS, seen from this host, and exactly one member per etcd host. */
async function checkClusterHealth(run: EtcdRun, t: TaskContext): Promise<void> {
  await waitUntil(async () => {
    const health = await t.exec(etcdctl(t.host, run.endpoints, ['endpoint', 'health']), { allowFailure: true })
    if (health.code !== 0) return `etcd endpoints are not all healthy: ${lastLine(health.stderr || health.stdout)}`
    const list = await t.exec(etcdctl(t.host, run.endpoints, ['member', 'list']), { allowFailure: true })
    if (list.code !== 0) return `etcd member list failed: ${lastLine(list.stderr)}`
    const members = parseMemberList(list.stdout)
    const strangers = foreignMembers(run.hosts, members, etcdPorts(run.ctx.config))
    if (strangers.length) throw new UserError(foreignMembersMessage(strangers), { host: t.host.name })
    const count = members.filter((member) => member.started).length
    if (count !== run.hosts.length) return `etcd has ${count} started member(s), expected ${run.hosts.length} (one per etcd host)`
    return undefined
  }, START_TIMEOUT_MS, 2000)
}

/** KubeKey's backup schedule: a snapshot script, a oneshot service and a timer every backupPeriod minutes. */
async function installBackupSchedule(_run: EtcdRun, t: TaskContext): Promise<void> {
  const [scriptFile, serviceFile, timerFile] = backupFiles(t.config, t.host)
  const script = await putNodeFile(t, scriptFile)
  const service = await putNodeFile(t, serviceFile)
  const timer = await putNodeFile(t, timerFile)
  await ensureServiceState(t, {
    enable: ['backup-etcd.timer'], start: 'backup-etcd.timer', restart: 'backup-etcd.timer', restartNow: timer, rememberRestart: false,
    unitsChanged: script || service || timer,
  })
}

/** The backup script, its oneshot service and its timer. */
export function backupFiles(config: ClusterConfig, host: Host): [NodeFile, NodeFile, NodeFile] {
  return [
    { path: backupScriptPath(config), mode: 0o755, content: renderBackupScript(config, host) },
    { path: BACKUP_SERVICE_FILE, mode: 0o644, content: renderBackupService(config) },
    { path: BACKUP_TIMER_FILE, mode: 0o644, content: renderBackupTimer(config) },
  ]
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? ''
}

// ── the module ───────────────────────────────────────────────────────────────────────────────────

function etcdTasks(ctx: PlanContext): Task[] {
  const run = new EtcdRun(ctx, ctx.hostsWithRole('etcd'))
  const step = (fn: (run: EtcdRun, t: TaskContext) => Promise<void>) => (t: TaskContext) => fn(run, t)
  return [
    { name: 'inspect etcd hosts', run: step(inspect) },
    { name: 'prepare certificates', hosts: () => run.hosts.slice(0, 1).map(() => run.pkiSource()), run: step(preparePkiOnce) },
    { name: 'install certificates', retries: 2, run: step(installCertificates) },
    { name: 'install etcd binaries', retries: 2, run: step(installEtcdBinaries) },
    { name: 'configure members', hosts: () => run.hosts.filter((h) => run.roles.get(h.name)?.kind !== 'join'), run: step(configureMember) },
    { name: 'start members', hosts: () => run.hostsToStart(), run: step(startMember) },
    { name: 'restart changed members', serial: true, hosts: () => run.membersToRestart(), run: step(restartMember) },
    { name: 'join new members', serial: true, hosts: () => run.hostsWhere('join'), run: step(joinMember) },
    { name: 'check cluster health', run: step(checkClusterHealth) },
    { name: 'install backup schedule', run: step(installBackupSchedule) },
  ]
}

/** A TLS etcd cluster on the etcd hosts, managed by kk-action (etcd.type kubekey). */
export const etcd = defineModule({
  id: 'etcd',
  hosts: (ctx) => ctx.hostsWithRole('etcd'),
  skip: ({ config }) => {
    const type = config.etcd.type
    if (type === 'kubekey') return undefined
    return type === 'kubeadm'
      ? 'etcd.type is kubeadm (stacked etcd, run by kubeadm on the control planes)'
      : 'etcd.type is external (the cluster uses etcd.external.endpoints)'
  },
  needs: () => ['etcd'],
  tasks: etcdTasks,
  files: (ctx, host) => {
    const hosts = ctx.hostsWithRole('etcd')
    const env = etcdEnvFile(ctx.config, host, memberName(host), freshBootstrap(hosts, etcdPorts(ctx.config)), ctx.versions.etcd)
    return [
      ...etcdPkiPlaceholders(hosts, ctx.hostsWithRole('control-plane')),
      { ...env, note: 'for a new cluster; a member with data keeps its name and bootstrap settings, a host added to a running cluster joins it' },
      ETCD_UNIT_NODE_FILE,
      ...backupFiles(ctx.config, host),
    ]
  },
})

/**
 * The etcd PKI as render shows it: made on the runner during the deploy (or kept from the nodes while still
 * right), so each file is a placeholder. Also what kubeadm-init puts on control planes.
 */
export function etcdPkiPlaceholders(etcdHosts: Host[], controlPlanes: Host[], only?: (path: string) => boolean): NodeFile[] {
  const names = pkiFileNames(wantedCerts(etcdHosts, controlPlanes))
  const pki: PemFiles = new Map(names.map((name) => [name, `${placeholder(`${isPrivateKey(name) ? 'private key' : 'certificate'} made by kk-action during the deploy`)}\n`]))
  return [...certificateFiles(pki)]
    .map(([name, file]) => ({ path: `${ETCD_CERT_DIR}/${name}`, ...file, note: 'made on the runner during the deploy, or kept from the nodes while still valid' }))
    .filter((file) => !only || only(file.path))
}
