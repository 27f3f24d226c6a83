/**
 * `kk-action render`: every file the create pipeline writes on each host, from the modules' own `files`
 * (the functions their tasks upload), written under DIR/<host>/<path>. No host is contacted.
 */
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, posix, relative, resolve, sep } from 'node:path'
import { artifactKey, type PlannedArtifact } from './artifacts/types.js'
import type { ClusterConfig } from './config/types.js'
import { UserError } from './errors.js'
import { PIPELINES } from './modules/index.js'
import { placeholder, type NodeFile } from './modules/module.js'
import { buildPlanContext } from './plan/build.js'
import type { ModuleId, Plan } from './plan/types.js'

/** The index render writes beside the host directories; a later render into DIR replaces exactly what it lists. */
export const RENDER_INDEX = 'kk-action-render.json'

export interface RenderedFile extends NodeFile {
  host: string
  /** The modules that write it, in pipeline order (the last one's content is what stays on the node). */
  modules: ModuleId[]
}

/** The files of the modules that run, per host; a path two modules write holds the later one's content. */
export function renderFiles(plan: Plan, config: ClusterConfig): RenderedFile[] {
  const ctx = buildPlanContext(config, plan)
  const definitions = new Map(PIPELINES[plan.pipeline].map((module) => [module.id, module]))
  const hosts = new Map(config.hosts.map((host) => [host.name, host]))
  const files = new Map<string, RenderedFile>()
  for (const planned of plan.modules.filter((m) => !m.skip)) {
    const module = definitions.get(planned.id)
    if (!module?.files) continue
    for (const name of planned.hosts) {
      for (const file of module.files(ctx, hosts.get(name)!)) {
        const key = `${name}\0${file.path}`
        const earlier = files.get(key)?.modules ?? []
        files.delete(key)
        files.set(key, { ...file, host: name, modules: earlier.includes(planned.id) ? earlier : [...earlier, planned.id] })
      }
    }
  }
  return [...files.values()].sort((a, b) => a.host.localeCompare(b.host) || a.path.localeCompare(b.path))
}

/** Per host, the verified artifacts its running modules send it (binaries, archives, charts): listed, not rendered. */
export function hostArtifacts(plan: Plan): Record<string, Array<Pick<PlannedArtifact, 'name' | 'version' | 'arch' | 'url' | 'sha256'>>> {
  const byKey = new Map(plan.artifacts.map((artifact) => [artifactKey(artifact), artifact]))
  const hosts = new Map(plan.hosts.map((host) => [host.name, host.arch]))
  const listed: Record<string, Map<string, PlannedArtifact>> = {}
  for (const module of plan.modules.filter((m) => !m.skip)) {
    for (const host of module.hosts) {
      for (const need of module.needs.filter((n) => n.arch === hosts.get(host))) {
        const artifact = byKey.get(artifactKey(need))
        if (artifact) (listed[host] ??= new Map()).set(artifactKey(need), artifact)
      }
    }
  }
  return Object.fromEntries(Object.entries(listed).map(([host, artifacts]) =>
    [host, [...artifacts.values()].map(({ name, version, arch, url, sha256 }) => ({ name, version, arch, url, sha256 }))]))
}

/** What `writeRendered` reports. */
export interface RenderSummary {
  files: number
  hosts: number
  /** Files in which a secret from the config was found and replaced by a placeholder. */
  masked: string[]
}

/**
 * Writes the files under `dest`, each with its mode on the node. Secrets of the config (${ENV} values,
 * passwords) never land in DIR: the modules already render them as placeholders, and any still found are
 * replaced. A previous render in `dest` is replaced (only the files its index lists are removed); any other
 * non-empty directory is refused.
 */
export function writeRendered(
  files: RenderedFile[], dest: string, secrets: Iterable<string>, artifacts: ReturnType<typeof hostArtifacts> = {},
): RenderSummary {
  clearPreviousRender(dest)
  // Whole tokens of 6 characters or more: a short ${ENV} value (a user name like "root") is a common word in these files.
  const known = [...new Set(secrets)].filter((secret) => secret.trim().length >= 6).sort((a, b) => b.length - a.length)
    .map((secret) => new RegExp(`(?<![A-Za-z0-9])${secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9])`, 'g'))
  const masked: string[] = []
  const index: Record<string, Array<Record<string, unknown>>> = {}
  for (const file of files) {
    const target = targetPath(dest, file.host, file.path)
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 })
    let content = file.content
    if (file.source) {
      copyFileSync(file.source, target)
    } else {
      for (const secret of known) content = content.replace(secret, placeholder('secret from the config'))
      if (content !== file.content) masked.push(`${file.host}:${file.path}`)
      writeFileSync(target, content, { mode: file.mode })
    }
    chmodSync(target, file.mode)
    const bytes = file.source ? readFileSync(target) : Buffer.from(content)
    ;(index[file.host] ??= []).push({
      path: file.path,
      mode: `0${file.mode.toString(8)}`,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      modules: file.modules,
      ...(file.secret ? { secret: true } : {}),
      ...(file.keepOriginal ? { keepsOriginal: true } : {}),
      ...(file.source ? { from: file.source } : {}),
      ...(file.note ? { note: file.note } : {}),
    })
  }
  writeFileSync(join(dest, RENDER_INDEX), `${JSON.stringify({ hosts: index, artifacts }, null, 2)}\n`)
  return { files: files.length, hosts: Object.keys(index).length, masked }
}

/** DIR/<host>/<path>, refusing anything that would land outside DIR/<host> (names and paths come from the config). */
function targetPath(dest: string, host: string, path: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(host) || host === '..' || !posix.isAbsolute(path) || posix.normalize(path) !== path) {
    throw new UserError(`cannot render ${host}:${path}: not a plain host name and an absolute, normalised path`, { host },
      'Use host names of letters, digits, dots, dashes and underscores')
  }
  const base = resolve(dest, host)
  const target = resolve(base, `.${path}`)
  if (!`${target}${sep}`.startsWith(`${base}${sep}`)) throw new UserError(`cannot render ${host}:${path}: it leaves ${base}`, { host })
  refuseSymlinks(resolve(dest), target)
  return target
}

/** DIR may be a checked-out directory: a symlink in it would send a write, or an earlier render's removal, elsewhere. */
function refuseSymlinks(root: string, target: string): void {
  for (let current = target; current !== root && current.startsWith(`${root}${sep}`); current = dirname(current)) {
    let link = false
    try { link = lstatSync(current).isSymbolicLink() } catch { continue }
    if (link) {
      throw new UserError(`${current} is a symbolic link: render writes only real directories and files under ${root}`, { file: current },
        'Remove the link, or give another --dest')
    }
  }
}

function clearPreviousRender(dest: string): void {
  if (!existsSync(dest)) {
    mkdirSync(dest, { recursive: true })
    return
  }
  if (!statSync(dest).isDirectory()) throw new UserError(`${dest} is not a directory`, { file: dest }, 'Give a new or empty directory for --dest')
  const entries = readdirSync(dest)
  if (entries.length === 0) return
  if (!entries.includes(RENDER_INDEX)) {
    throw new UserError(`${dest} is not empty and holds no earlier render (${RENDER_INDEX})`, { file: dest },
      'Give a new or empty directory, or one an earlier `kk-action render` wrote')
  }
  let previous: { hosts?: Record<string, Array<{ path?: unknown }>> }
  try {
    previous = JSON.parse(readFileSync(join(dest, RENDER_INDEX), 'utf8')) as typeof previous
  } catch (error) {
    throw new UserError(`${join(dest, RENDER_INDEX)} cannot be read: ${(error as Error).message}`, { file: join(dest, RENDER_INDEX) },
      'Remove the directory, or give another one')
  }
  for (const [host, listed] of Object.entries(previous.hosts ?? {})) {
    for (const entry of listed) {
      if (typeof entry.path !== 'string') continue
      const target = targetPath(dest, host, entry.path)
      rmSync(target, { force: true })
      removeEmptyParents(dirname(target), resolve(dest))
    }
  }
  rmSync(join(dest, RENDER_INDEX), { force: true })
}

function removeEmptyParents(dir: string, stop: string): void {
  for (let current = dir; current !== stop && relative(stop, current) && !relative(stop, current).startsWith('..'); current = dirname(current)) {
    if (readdirSync(current).length) return
    rmdirSync(current)
  }
}
