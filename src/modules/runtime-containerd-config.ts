/**
 * /etc/containerd/config.toml. containerd 1.x reads config version 2 (CRI settings under
 * plugins."io.containerd.grpc.v1.cri"); containerd 2.x reads version 3 (split into cri.v1.images and
 * cri.v1.runtime). Registry hosts always go through config_path (certs.d/<host>/hosts.toml): inline
 * `mirrors` are deprecated and containerd refuses them next to config_path. Credentials have no place in
 * hosts.toml, so they stay in the CRI `configs.<host>.auth` tables, which containerd still honours.
 */
import { atLeast } from '../plan/version.js'
import { tomlString, type RegistryCredential } from './runtime-registry.js'

export const CONTAINERD_SOCKET = '/run/containerd/containerd.sock'
export const CERTS_D = '/etc/containerd/certs.d'

export interface ContainerdSettings {
  /** The containerd release the file is for: 2.x and later get config version 3. */
  version: string
  sandboxImage: string
  /** containerd's state root (KubeKey's registry.containerdDataDir). */
  root: string
  /** CRI containers never ask for a negative oom_score_adj (for nodes where root may not lower it). */
  restrictOomScoreAdj: boolean
  credentials: RegistryCredential[]
}

export function configVersionFor(containerdVersion: string): 2 | 3 {
  return Number.parseInt(containerdVersion.replace(/^v/, ''), 10) >= 2 ? 3 : 2
}

export function renderContainerdConfig(settings: ContainerdSettings): string {
  const version = configVersionFor(settings.version)
  const lines = [
    '# Written by kk-action; changes here are replaced on the next deploy.',
    `version = ${version}`,
    `root = ${tomlString(settings.root)}`,
    'state = "/run/containerd"',
    '',
    '[grpc]',
    `  address = ${tomlString(CONTAINERD_SOCKET)}`,
    '',
    ...(version === 3 ? criVersion3(settings) : criVersion2(settings)),
  ]
  return `${lines.join('\n')}\n`
}

function criVersion2(settings: ContainerdSettings): string[] {
  const cri = '[plugins."io.containerd.grpc.v1.cri"'
  return [
    `${cri}]`,
    `  sandbox_image = ${tomlString(settings.sandboxImage)}`,
    `  restrict_oom_score_adj = ${settings.restrictOomScoreAdj}`,
    `  ${cri}.containerd]`,
    '    default_runtime_name = "runc"',
    `    ${cri}.containerd.runtimes.runc]`,
    '      runtime_type = "io.containerd.runc.v2"',
    `      ${cri}.containerd.runtimes.runc.options]`,
    '        SystemdCgroup = true',
    `  ${cri}.cni]`,
    '    bin_dir = "/opt/cni/bin"',
    '    conf_dir = "/etc/cni/net.d"',
    `  ${cri}.registry]`,
    `    config_path = ${tomlString(CERTS_D)}`,
    ...credentials(`${cri}.registry.configs`, settings.credentials, '    '),
  ]
}

function criVersion3(settings: ContainerdSettings): string[] {
  const images = '[plugins."io.containerd.cri.v1.images"'
  const runtime = '[plugins."io.containerd.cri.v1.runtime"'
  return [
    `${images}.pinned_images]`,
    `  sandbox = ${tomlString(settings.sandboxImage)}`,
    '',
    `${images}.registry]`,
    `  config_path = ${tomlString(CERTS_D)}`,
    ...credentials(`${images}.registry.configs`, settings.credentials, '  '),
    '',
    `${runtime}]`,
    `  restrict_oom_score_adj = ${settings.restrictOomScoreAdj}`,
    `  ${runtime}.containerd]`,
    '    default_runtime_name = "runc"',
    `    ${runtime}.containerd.runtimes.runc]`,
    '      runtime_type = "io.containerd.runc.v2"',
    `      ${runtime}.containerd.runtimes.runc.options]`,
    '        SystemdCgroup = true',
    `  ${runtime}.cni]`,
    // containerd 2.1 replaced bin_dir with the list bin_dirs (bin_dir is deprecated there, due to go in 2.4).
    atLeast(settings.version, '2.1.0') ? '    bin_dirs = ["/opt/cni/bin"]' : '    bin_dir = "/opt/cni/bin"',
    '    conf_dir = "/etc/cni/net.d"',
  ]
}

function credentials(table: string, entries: ContainerdSettings['credentials'], indent: string): string[] {
  return entries.flatMap(({ host, username, password }) => [
    `${indent}${table}.${tomlString(host)}.auth]`,
    `${indent}  username = ${tomlString(username)}`,
    `${indent}  password = ${tomlString(password)}`,
  ])
}

/** The systemd unit, with upstream's settings; ExecStart points at where the archive's binary is installed. */
export const CONTAINERD_UNIT = `[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target dbus.service

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
`

/** /etc/crictl.yaml for a CRI endpoint (a unix:// URL). */
export function renderCrictlConfig(endpoint: string): string {
  return [
    '# Written by kk-action.',
    `runtime-endpoint: ${endpoint}`,
    `image-endpoint: ${endpoint}`,
    'timeout: 10',
    'debug: false',
    '',
  ].join('\n')
}
