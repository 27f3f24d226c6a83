/**
 * The files that make an etcd member on a node: /etc/etcd.env, etcd.service, and KubeKey's backup
 * schedule (script, oneshot service, timer). Pure functions of the config, so a rerun renders the same bytes.
 */
import { posix } from 'node:path'
import type { ClusterConfig, Host } from '../config/types.js'
import { UserError } from '../errors.js'
import { quote } from '../nodes/quote.js'

export const ETCD_CERT_DIR = '/etc/ssl/etcd/ssl'
export const ETCD_ENV_FILE = '/etc/etcd.env'
export const ETCD_UNIT_FILE = '/etc/systemd/system/etcd.service'
export const BIN_DIR = '/usr/local/bin'
export const ETCDCTL = `${BIN_DIR}/etcdctl`
export const BACKUP_SERVICE_FILE = '/etc/systemd/system/backup-etcd.service'
export const BACKUP_TIMER_FILE = '/etc/systemd/system/backup-etcd.timer'
/** KubeKey's default `etcd.backupScript` (a directory). */
const DEFAULT_BACKUP_SCRIPT_DIR = '/usr/local/bin/kube-scripts'

export interface EtcdPorts { client: number; peer: number }

/** KubeKey's `etcd.port` / `etcd.peerPort`, 2379/2380 by default. */
export function etcdPorts(config: ClusterConfig): EtcdPorts {
  const { port, peerPort } = config.etcd.extra
  return { client: typeof port === 'number' ? port : 2379, peer: typeof peerPort === 'number' ? peerPort : 2380 }
}

/** The member name KubeKey gives a host it creates etcd on. */
export function memberName(host: Host): string {
  return `etcd-${host.name}`
}

export function clientUrl(host: Host, ports: EtcdPorts): string {
  return `https://${urlHost(host.internalAddress)}:${ports.client}`
}

export function peerUrl(host: Host, ports: EtcdPorts): string {
  return `https://${urlHost(host.internalAddress)}:${ports.peer}`
}

function urlHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address
}

/** Every file a member's TLS uses, by role, in KubeKey's layout under /etc/ssl/etcd/ssl. */
export const certFiles = {
  ca: `${ETCD_CERT_DIR}/ca.pem`,
  caKey: `${ETCD_CERT_DIR}/ca-key.pem`,
  member: (host: string) => `${ETCD_CERT_DIR}/member-${host}.pem`,
  memberKey: (host: string) => `${ETCD_CERT_DIR}/member-${host}-key.pem`,
  admin: (host: string) => `${ETCD_CERT_DIR}/admin-${host}.pem`,
  adminKey: (host: string) => `${ETCD_CERT_DIR}/admin-${host}-key.pem`,
  node: (host: string) => `${ETCD_CERT_DIR}/node-${host}.pem`,
  nodeKey: (host: string) => `${ETCD_CERT_DIR}/node-${host}-key.pem`,
}

/** How a member enters the cluster: only read by etcd when its data directory is empty. */
export interface Bootstrap {
  state: 'new' | 'existing'
  /** `name=peerURL,...` */
  initialCluster: string
}

// KubeKey's tuning defaults; each can be set in spec.etcd.
const TUNING: Array<{ field: string; variable: string; fallback?: number | string }> = [
  { field: 'electionTimeout', variable: 'ETCD_ELECTION_TIMEOUT', fallback: 5000 },
  { field: 'heartbeatInterval', variable: 'ETCD_HEARTBEAT_INTERVAL', fallback: 250 },
  { field: 'autoCompactionRetention', variable: 'ETCD_AUTO_COMPACTION_RETENTION', fallback: 8 },
  { field: 'snapshotCount', variable: 'ETCD_SNAPSHOT_COUNT', fallback: 10000 },
  { field: 'metrics', variable: 'ETCD_METRICS', fallback: 'basic' },
  { field: 'quotaBackendBytes', variable: 'ETCD_QUOTA_BACKEND_BYTES' },
  { field: 'maxRequestBytes', variable: 'ETCD_MAX_REQUEST_BYTES' },
  { field: 'maxSnapshots', variable: 'ETCD_MAX_SNAPSHOTS' },
  { field: 'maxWals', variable: 'ETCD_MAX_WALS' },
  { field: 'logLevel', variable: 'ETCD_LOG_LEVEL' },
]

/** /etc/etcd.env for one member (systemd EnvironmentFile syntax: one KEY=value per line, no shell). */
export function renderEtcdEnv(config: ClusterConfig, host: Host, name: string, bootstrap: Bootstrap, version: string): string {
  const ports = etcdPorts(config)
  const lines = [
    `# etcd ${version}, written by kk-action`,
    envLine('ETCD_NAME', name),
    envLine('ETCD_DATA_DIR', config.etcd.dataDir, 'spec.etcd.dataDir'),
    envLine('ETCD_ADVERTISE_CLIENT_URLS', clientUrl(host, ports)),
    envLine('ETCD_LISTEN_CLIENT_URLS', listenClientUrls(host, ports)),
    envLine('ETCD_INITIAL_ADVERTISE_PEER_URLS', peerUrl(host, ports)),
    envLine('ETCD_LISTEN_PEER_URLS', peerUrl(host, ports)),
    envLine('ETCD_INITIAL_CLUSTER_STATE', bootstrap.state),
    envLine('ETCD_INITIAL_CLUSTER', bootstrap.initialCluster),
    envLine('ETCD_INITIAL_CLUSTER_TOKEN', 'k8s_etcd'),
    ...tuningLines(config),
    ...(needsUnsupportedArch(host, version) ? [envLine('ETCD_UNSUPPORTED_ARCH', host.arch)] : []),
    '',
    '# TLS: clients and peers must present a certificate signed by the etcd CA',
    envLine('ETCD_TRUSTED_CA_FILE', certFiles.ca),
    envLine('ETCD_CERT_FILE', certFiles.member(host.name)),
    envLine('ETCD_KEY_FILE', certFiles.memberKey(host.name)),
    envLine('ETCD_CLIENT_CERT_AUTH', 'true'),
    envLine('ETCD_PEER_TRUSTED_CA_FILE', certFiles.ca),
    envLine('ETCD_PEER_CERT_FILE', certFiles.member(host.name)),
    envLine('ETCD_PEER_KEY_FILE', certFiles.memberKey(host.name)),
    envLine('ETCD_PEER_CLIENT_CERT_AUTH', 'true'),
  ]
  return lines.join('\n') + '\n'
}

/** The advertised address, and loopback for clients on the node itself (once, when they are the same). */
function listenClientUrls(host: Host, ports: EtcdPorts): string {
  const loopback = `https://127.0.0.1:${ports.client}`
  return [...new Set([clientUrl(host, ports), loopback])].join(',')
}

function tuningLines(config: ClusterConfig): string[] {
  return TUNING.flatMap(({ field, variable, fallback }) => {
    const value = config.etcd.extra[field] ?? fallback
    if (value === undefined) return []
    return [envLine(variable, String(value), `spec.etcd.${field}`)]
  })
}

// etcd before 3.5 refuses to start on anything but amd64 unless told it is on purpose.
function needsUnsupportedArch(host: Host, version: string): boolean {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number)
  return host.arch !== 'amd64' && (major < 3 || (major === 3 && minor < 5))
}

/** systemd reads EnvironmentFile values verbatim up to the line end: refuse what would change the file's meaning. */
function envLine(variable: string, value: string, field?: string): string {
  if (!/^[A-Za-z0-9_.,:=/@[\]+-]+$/.test(value)) {
    throw new UserError(`${variable} would be "${value}", which etcd.env cannot hold`, { field },
      'Use letters, digits and . , : = / @ [ ] + - _ only')
  }
  return `${variable}=${value}`
}

export const ETCD_UNIT = `[Unit]
Description=etcd key-value store (kk-action)
Documentation=https://etcd.io/docs/
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
User=root
EnvironmentFile=${ETCD_ENV_FILE}
ExecStart=${BIN_DIR}/etcd
NotifyAccess=all
Restart=always
RestartSec=10s
LimitNOFILE=40000

[Install]
WantedBy=multi-user.target
`

export function backupScriptPath(config: ClusterConfig): string {
  const dir = config.etcd.extra.backupScript
  return posix.join(typeof dir === 'string' && dir ? dir : DEFAULT_BACKUP_SCRIPT_DIR, 'etcd-backup.sh')
}

/**
 * A v3 snapshot of the local member into backupDir/etcd-<timestamp>/snapshot.db, keeping the newest
 * keepBackupNumber snapshots. Config values enter the script only as quoted words.
 */
export function renderBackupScript(config: ClusterConfig, host: Host): string {
  const ports = etcdPorts(config)
  return `#!/bin/sh
# etcd backup, written by kk-action; run by backup-etcd.timer
set -eu
backup_root=${quote(config.etcd.backupDir)}
keep=${quote(config.etcd.keepBackupNumber)}
target="$backup_root/etcd-$(date +%Y-%m-%d-%H-%M-%S)"
mkdir -p "$target"
chmod 0700 "$backup_root"
${ETCDCTL} --endpoints=${quote(`https://127.0.0.1:${ports.client}`)} \\
  --cacert=${quote(certFiles.ca)} --cert=${quote(certFiles.admin(host.name))} --key=${quote(certFiles.adminKey(host.name))} \\
  snapshot save "$target/snapshot.db.part" >/dev/null
mv "$target/snapshot.db.part" "$target/snapshot.db"
# Newest first; everything after the first $keep snapshots goes.
ls -1d "$backup_root"/etcd-* 2>/dev/null | sort -r | tail -n +"$((keep + 1))" | while IFS= read -r old; do
  rm -rf -- "$old"
done
`
}

export function renderBackupService(config: ClusterConfig): string {
  return `[Unit]
Description=Snapshot of the local etcd member (kk-action)
After=etcd.service

[Service]
Type=oneshot
ExecStart=${backupScriptPath(config)}
`
}

export function renderBackupTimer(config: ClusterConfig): string {
  return `[Unit]
Description=Periodic etcd snapshot every ${config.etcd.backupPeriod} minutes (kk-action)

[Timer]
OnCalendar=${onCalendar(config.etcd.backupPeriod)}
Unit=backup-etcd.service

[Install]
WantedBy=timers.target
`
}

/**
 * KubeKey's mapping of backupPeriod (minutes) to a calendar event: every N minutes below an hour,
 * every H hours (and M minutes) below a day, once a day at midnight otherwise.
 */
export function onCalendar(periodMinutes: number): string {
  if (periodMinutes <= 0) return '*-*-* *:00/30:00'
  if (periodMinutes < 60) return `*-*-* *:00/${periodMinutes}:00`
  if (periodMinutes < 1440) {
    const hours = Math.floor(periodMinutes / 60)
    const minutes = periodMinutes % 60
    return `*-*-* 00/${hours}:${minutes === 0 ? '00' : minutes}:00`
  }
  return '*-*-* 00:00:00'
}
