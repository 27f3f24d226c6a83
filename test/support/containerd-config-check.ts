/**
 * A checker standing in for containerd reading /etc/containerd/config.toml: each key of the file against the keys
 * that containerd release reads. containerd 1.6/1.7 read config version 2 with the CRI plugin
 * `io.containerd.grpc.v1.cri`; 2.x reads version 3 with `io.containerd.cri.v1.images` / `io.containerd.cri.v1.runtime`
 * (a version 2 file is migrated on load), where the sandbox image became `pinned_images.sandbox` and, from 2.1,
 * `cni.bin_dir` gave way to `cni.bin_dirs` (containerd/containerd RELEASES.md, docs/cri/config.md). Only the keys
 * kk-action may write are known here; anything else is reported, as a key containerd would ignore or reject.
 * Reads the TOML subset kk-action writes: `[table]` headers and `key = value` lines.
 */

function parseKeys(text: string): { keys: string[]; values: Map<string, string> } {
  const keys: string[] = []
  const values = new Map<string, string>()
  let table = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header) {
      table = header[1].replace(/\s/g, '')
      continue
    }
    const kv = /^([A-Za-z0-9_"-.]+)\s*=\s*(.*)$/.exec(line)
    if (!kv) throw new Error(`not TOML kk-action writes: ${line}`)
    const key = table ? `${table}.${kv[1]}` : kv[1]
    keys.push(key)
    values.set(key, kv[2])
  }
  return { keys, values }
}

const quoted = '"[^"]+"'
const V2_CRI = 'plugins\\."io\\.containerd\\.grpc\\.v1\\.cri"'
const V3_IMAGES = 'plugins\\."io\\.containerd\\.cri\\.v1\\.images"'
const V3_RUNTIME = 'plugins\\."io\\.containerd\\.cri\\.v1\\.runtime"'
const runtimes = (prefix: string) => [
  `${prefix}\\.containerd\\.default_runtime_name`,
  `${prefix}\\.containerd\\.runtimes\\.[A-Za-z0-9_-]+\\.runtime_type`,
  `${prefix}\\.containerd\\.runtimes\\.[A-Za-z0-9_-]+\\.options\\.SystemdCgroup`,
  `${prefix}\\.cni\\.conf_dir`,
]
const COMMON = ['version', 'root', 'state', 'grpc\\.address']

const VERSION_2_KEYS = [
  ...COMMON,
  `${V2_CRI}\\.sandbox_image`, `${V2_CRI}\\.restrict_oom_score_adj`, ...runtimes(V2_CRI), `${V2_CRI}\\.cni\\.bin_dir`,
  `${V2_CRI}\\.registry\\.config_path`, `${V2_CRI}\\.registry\\.configs\\.${quoted}\\.auth\\.(username|password)`,
]

function version3Keys(containerd: string): string[] {
  const [, minor] = containerd.replace(/^v/, '').split('.').map(Number)
  return [
    ...COMMON,
    `${V3_IMAGES}\\.pinned_images\\.sandbox`, `${V3_IMAGES}\\.registry\\.config_path`,
    `${V3_IMAGES}\\.registry\\.configs\\.${quoted}\\.auth\\.(username|password)`,
    `${V3_RUNTIME}\\.restrict_oom_score_adj`, ...runtimes(V3_RUNTIME),
    // bin_dirs arrived in 2.1, which deprecated bin_dir.
    minor >= 1 ? `${V3_RUNTIME}\\.cni\\.bin_dirs` : `${V3_RUNTIME}\\.cni\\.bin_dir`,
  ]
}

/** Problems containerd `containerdVersion` would have with this config.toml; empty when it reads every key as meant. */
export function checkContainerdConfig(containerdVersion: string, text: string): string[] {
  const { keys, values } = parseKeys(text)
  const major = Number.parseInt(containerdVersion.replace(/^v/, ''), 10)
  const version = Number(values.get('version'))
  const problems: string[] = []
  if (major < 2 && version !== 2) problems.push(`containerd ${containerdVersion} reads config version 1 or 2, not ${values.get('version') ?? '(none)'}`)
  if (major >= 2 && version !== 3 && version !== 2) problems.push(`containerd ${containerdVersion} reads config version 2 (migrated) or 3, not ${values.get('version') ?? '(none)'}`)
  const allowed = (major >= 2 && version === 3 ? version3Keys(containerdVersion) : VERSION_2_KEYS).map((k) => new RegExp(`^${k}$`))
  for (const key of keys) if (!allowed.some((re) => re.test(key))) problems.push(`containerd ${containerdVersion}, config version ${version}: key ${key} is not one it reads`)
  if (keys.some((k) => k.includes('.registry.mirrors.')) && keys.some((k) => k.endsWith('.registry.config_path'))) {
    problems.push('registry.mirrors cannot be set together with registry.config_path')
  }
  return problems
}
