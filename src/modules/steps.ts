import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import type { ArtifactName } from '../artifacts/types.js'
import type { KeepOriginal, UploadOptions } from '../nodes/connection.js'
import { KEEP_ORIGINAL } from '../nodes/transfer.js'
import { raw, sh, type Command } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import type { NodeFile } from './module.js'

/** Where archives are kept on a node, so a rerun compares instead of sending them again. */
export const NODE_ARTIFACT_DIR = '/var/lib/kk-action/artifacts'

const renderedDir = join(tmpdir(), `kk-action-rendered-${process.pid}`)

/** Where a module that overwrites a file the machine already had keeps the original, for cleanup to put back. */
export const ORIGINAL_SUFFIX = '.kk-action-orig'

/** One empty file per path kk-action took over (<dir><path>): its original, if any, is already kept. */
export const TAKEN_OVER_DIR = '/var/lib/kk-action/taken-over'

export interface PutOptions {
  /**
   * The machine may have its own file here (a packaged containerd's config.toml, Docker's daemon.json): on the
   * first write, keep it as `<file>.kk-action-orig`, which the delete pipeline's cleanup puts back.
   */
  keepOriginal?: boolean
}

/** The original kept beside `path` and the mark that kk-action wrote it (what the delete pipeline reads). */
export function keepOriginalOf(path: string): KeepOriginal {
  return { copy: `${path}${ORIGINAL_SUFFIX}`, marker: `${TAKEN_OVER_DIR}${path}` }
}

/**
 * Unit files are always taken over: a machine may have its own unit of that name in /etc/systemd/system, and
 * the mark is what lets the delete pipeline stop and remove only the units kk-action wrote.
 */
function uploadOptions(remotePath: string, mode: number, sha256: string, options: PutOptions): UploadOptions {
  const keep = options.keepOriginal ?? remotePath.startsWith('/etc/systemd/system/')
  return { mode, sha256, keepOriginal: keep ? keepOriginalOf(remotePath) : undefined }
}

/**
 * Writes `content` to `remotePath` (atomic, skipped when the node already has the same bytes).
 * Returns whether the file changed.
 */
export async function putFile(t: TaskContext, remotePath: string, content: string, mode = 0o644, options: PutOptions = {}): Promise<boolean> {
  const digest = createHash('sha256').update(content).digest('hex')
  mkdirSync(renderedDir, { recursive: true, mode: 0o700 })
  const local = join(renderedDir, digest)
  // Hosts render the same file at once: write beside it and rename, so no upload ever reads it half-written.
  const partial = `${local}.${randomBytes(6).toString('hex')}`
  writeFileSync(partial, content, { mode: 0o600 })
  renameSync(partial, local)
  // The upload creates the directory (nodes/transfer.ts): no mkdir round trip before it.
  const result = await t.upload(local, remotePath, uploadOptions(remotePath, mode, digest, options))
  return result.changed
}

/**
 * Like putFile, for secrets (private keys): mode 0600 by default, and the runner's copy lives only in a
 * private temporary directory for the length of the upload.
 */
export async function putPrivateFile(t: TaskContext, remotePath: string, content: string, mode = 0o600, options: PutOptions = {}): Promise<boolean> {
  const digest = createHash('sha256').update(content).digest('hex')
  const dir = mkdtempSync(join(tmpdir(), 'kk-action-secret-'))
  try {
    const local = join(dir, 'file')
    writeFileSync(local, content, { mode: 0o600 })
    const result = await t.upload(local, remotePath, uploadOptions(remotePath, mode, digest, options))
    return result.changed
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Writes a module's NodeFile: a runner file as it is, a secret through putPrivateFile, anything else through putFile. */
export async function putNodeFile(t: TaskContext, file: NodeFile): Promise<boolean> {
  if (file.source) return (await t.upload(file.source, file.path, { mode: file.mode })).changed
  const options = file.keepOriginal ? { keepOriginal: true } : {}
  return file.secret
    ? putPrivateFile(t, file.path, file.content, file.mode, options)
    : putFile(t, file.path, file.content, file.mode, options)
}

/** A file for putFiles: its content and mode (0600 files are treated as secrets). */
export interface FileContent {
  content: string
  mode: number
}

/**
 * Writes many files into one directory in a few round trips, however many files there are: one to compare
 * them all by sha256, and for those that differ one verified upload of a bundle (mode 0600: it may hold
 * keys) that the node unpacks, each file atomically, and deletes. Returns the names that changed.
 */
export async function putFiles(t: TaskContext, dir: string, files: ReadonlyMap<string, FileContent>): Promise<string[]> {
  const names = [...files.keys()]
  for (const name of names) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$/.test(name)) throw new Error(`putFiles: "${name}" is not a plain file name`)
  }
  const listed = await t.exec(sh`sh -c ${SHA256_OF_EACH} kk-sha256-each ${dir} ${names}`)
  const remote = new Map(listed.stdout.split('\n').filter(Boolean).map((line) => {
    const [sum, ...name] = line.split('  ')
    return [name.join('  '), sum] as const
  }))
  const changed = names.filter((name) => remote.get(name) !== createHash('sha256').update(files.get(name)!.content).digest('hex'))
  if (changed.length === 0) return []
  const bundle = changed.map((name) => {
    const { content, mode } = files.get(name)!
    return `${name} ${mode.toString(8)} ${Buffer.from(content).toString('base64')}\n`
  }).join('')
  const remoteBundle = posix.join(dir, `.kk-bundle-${createHash('sha256').update(bundle).digest('hex').slice(0, 16)}`)
  await putPrivateFile(t, remoteBundle, bundle)
  await t.exec(sh`sh -c ${UNPACK_BUNDLE} kk-unpack ${dir} ${remoteBundle}`)
  t.changed()
  return changed
}

const SHA256_OF_EACH = `dir=$1; shift; mkdir -p -- "$dir" && cd -- "$dir" || exit 1
for f in "$@"; do if [ -f "$f" ]; then sha256sum -- "$f"; fi; done`

// Lines of "name octal-mode base64"; each file lands in a temp file beside its target, then is renamed.
const UNPACK_BUNDLE = `set -e
dir=$1 bundle=$2
trap 'rm -f -- "$bundle" "$dir"/.kk-unpack.*' EXIT
while read -r name mode data; do
  tmp=$(mktemp "$dir/.kk-unpack.XXXXXX")
  printf '%s' "$data" | base64 -d > "$tmp"
  chmod "$mode" "$tmp"
  mv -f -- "$tmp" "$dir/$name"
done < "$bundle"`

/**
 * Installs a single-file artifact (kubeadm, runc, ...) at `remotePath`. Like every binary kk-action installs,
 * it is taken over: a binary the machine had there (a runner's kubectl) is kept beside it for the delete
 * pipeline to put back, and the mark says kk-action wrote it (only marked binaries are ever removed).
 */
export async function installBinary(t: TaskContext, name: ArtifactName, remotePath: string): Promise<boolean> {
  const { path, artifact } = t.artifact(name)
  const result = await t.upload(path, remotePath, { mode: 0o755, sha256: artifact.sha256, keepOriginal: keepOriginalOf(remotePath) })
  return result.changed
}

/**
 * Installs members of an archive artifact: the archive goes to the node once (verified), is unpacked in
 * a temporary directory there, and each member replaces its target only when the bytes differ.
 * `members` maps a path inside the archive to the target path. Returns whether any target changed.
 */
export async function installFromArchive(
  t: TaskContext, name: ArtifactName, members: Record<string, string>, mode = 0o755,
): Promise<boolean> {
  const { path, artifact } = t.artifact(name)
  const archive = `${NODE_ARTIFACT_DIR}/${artifact.name}/${artifact.version}/${artifact.file}`
  await t.upload(path, archive, { mode: 0o644, sha256: artifact.sha256 })
  const result = await t.exec(installMembersCommand(archive, members, mode))
  const changed = result.stdout.split('\n').some((line) => line.startsWith('changed '))
  if (changed) t.changed()
  return changed
}

function installMembersCommand(archive: string, members: Record<string, string>, mode: number): Command {
  const octal = mode.toString(8)
  const steps = Object.entries(members).map(([member, target]) => {
    const inside = member.replace(/^\.\//, '')
    const temp = `${target}.kk-tmp`
    const keep = keepOriginalOf(target)
    return sh`if ! cmp -s "$d"/${inside} ${target}; then keep_original ${target} ${keep.copy} ${keep.marker} && mkdir -p ${posix.dirname(target)} && install -m ${octal} "$d"/${inside} ${temp} && mv -f ${temp} ${target} && echo changed ${target}; fi`
  })
  const all = steps.reduce((joined, step) => sh`${joined}; ${step}`)
  // Members are taken over as installBinary's file is (keep_original: transfer.ts).
  return sh`${raw(KEEP_ORIGINAL)}
set -e; d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; tar -xzf ${archive} -C "$d"; ${all}`
}

/**
 * Installs every member the catalog lists for an archive artifact into `dir`, each under its own basename
 * (bin/ctr → <dir>/ctr). Returns whether any target changed.
 */
export async function installArchiveInto(t: TaskContext, name: ArtifactName, dir: string, mode = 0o755): Promise<boolean> {
  const members = t.artifact(name).artifact.members ?? []
  if (members.length === 0) throw new Error(`the catalog lists no members for the ${name} archive`)
  const targets = Object.fromEntries(members.map((member) => [member, `${dir}/${posix.basename(member)}`]))
  return installFromArchiveOnce(t, name, targets, mode)
}

/**
 * installFromArchive, skipped when the targets are still the very files the last install of this archive
 * (same sha256, members and mode) put there — same inode, size and mtime: big bundles (docker's) then cost
 * one stat, not an unpack and a compare.
 */
export async function installFromArchiveOnce(
  t: TaskContext, name: ArtifactName, members: Record<string, string>, mode = 0o755,
): Promise<boolean> {
  const { artifact } = t.artifact(name)
  const id = createHash('sha256').update(JSON.stringify([artifact.sha256, members, mode])).digest('hex').slice(0, 16)
  const stamp = `${NODE_ARTIFACT_DIR}/${artifact.name}/${artifact.version}/installed-${id}`
  const targets = Object.values(members)
  const describe = sh`stat -c '%i %s %Y %n' -- ${targets}`
  const intact = await t.exec(sh`${describe} 2>/dev/null | cmp -s - ${stamp}`, { allowFailure: true })
  if (intact.code === 0) return false
  const changed = await installFromArchive(t, name, members, mode)
  await t.exec(sh`${describe} > ${`${stamp}.tmp`} && mv -f ${`${stamp}.tmp`} ${stamp}`)
  return changed
}

/** Where pending restarts are remembered on a node, so a run that failed half-way still restarts next time. */
export const RESTART_PENDING_DIR = '/var/lib/kk-action/restart-pending'

/** Remembers on the node that `unit` must restart (its binary or config changed); ensureServiceCurrent does it. */
export async function requestRestart(t: TaskContext, unit: string): Promise<void> {
  await t.exec(sh`mkdir -p ${RESTART_PENDING_DIR} && touch ${`${RESTART_PENDING_DIR}/${unit}`}`)
}

export async function clearPendingRestart(t: TaskContext, unit: string): Promise<void> {
  await t.exec(sh`rm -f ${`${RESTART_PENDING_DIR}/${unit}`}`)
}

/** What a systemd unit should look like after a task; ensureServiceState gets there in one round trip. */
export interface ServiceState {
  /** Units to enable, unless they already are. */
  enable: string[]
  /** A unit to start when it is not active. */
  start?: string
  /**
   * A unit to restart (when it is active and was not just started) if a restart of it is pending: asked for
   * now (`restartNow`) or by an earlier run that did not get that far (RESTART_PENDING_DIR).
   */
  restart?: string
  restartNow?: boolean
  /** Remember the restart on the node until it happened (default true), so an interrupted run still does it. */
  rememberRestart?: boolean
  /** Unit files changed: daemon-reload first. Also done when systemd reports a named unit newer on disk than loaded. */
  unitsChanged?: boolean
}

// One round trip for the whole decision. Prints "doing: <verb> <unit>" before and "done: <verb> <unit>" after each
// systemctl action that changes something, so the caller can count changes and name what failed.
const SERVICE_STATE = `reload=$1 start=$2 restart=$3 now=$4 pending=$5; shift 5
if [ "$now" = yes ] && [ -n "$pending" ]; then mkdir -p -- "\${pending%/*}" && : > "$pending" || exit 1; fi
if [ -n "$pending" ] && [ -e "$pending" ]; then now=yes; fi
if [ "$reload" != yes ]; then
  for u in "$@" $start $restart; do
    if [ "$(systemctl show -p NeedDaemonReload --value "$u" 2>/dev/null)" = yes ]; then reload=yes; fi
  done
fi
if [ "$reload" = yes ]; then systemctl daemon-reload || exit 1; echo "systemd reloaded"; fi
act() { echo "doing: $1 $2"; systemctl "$1" "$2" || exit; echo "done: $1 $2"; }
for u in "$@"; do
  if [ "$(systemctl is-enabled "$u" 2>/dev/null)" != enabled ]; then act enable "$u"; fi
done
started=
if [ -n "$start" ] && [ "$(systemctl is-active "$start" 2>/dev/null)" != active ]; then act start "$start"; started=$start; fi
if [ "$now" = yes ] && [ -n "$restart" ] && [ "$restart" != "$started" ] && [ "$(systemctl is-active "$restart" 2>/dev/null)" = active ]; then
  act restart "$restart"
fi
if [ -n "$pending" ]; then rm -f -- "$pending"; fi`

/**
 * Enables, starts and restarts units as `state` asks, in one command. A unit that does not start or restart
 * fails with its last journal lines (systemctl itself only says "see journalctl").
 */
export async function ensureServiceState(t: TaskContext, state: ServiceState): Promise<void> {
  const remember = state.restart !== undefined && (state.rememberRestart ?? true)
  const pending = remember ? `${RESTART_PENDING_DIR}/${state.restart}` : ''
  const yes = (value: boolean | undefined) => (value ? 'yes' : 'no')
  const result = await t.exec(sh`sh -c ${SERVICE_STATE} kk-service ${yes(state.unitsChanged)} ${state.start ?? ''} ${state.restart ?? ''} ${yes(state.restartNow)} ${pending} ${state.enable}`,
    { allowFailure: true })
  const lines = result.stdout.split('\n')
  if (lines.some((line) => line.startsWith('done: '))) t.changed()
  if (result.code === 0) return
  const failed = lines.filter((line) => line.startsWith('doing: ')).pop()?.slice('doing: '.length)
  if (!failed) throw new Error(`exit code ${result.code}: systemd did not reload or answer${result.stderr.trim() ? `\n${result.stderr.trim()}` : ''}`)
  const [verb, unit] = failed.split(' ')
  if (verb === 'enable') throw new Error(`cannot enable ${unit}: exit code ${result.code}: systemctl ${failed}${result.stderr.trim() ? `\n${result.stderr.trim()}` : ''}`)
  const journal = await t.exec(sh`journalctl -u ${unit} --no-pager -n 15 -o cat`, { allowFailure: true, timeoutMs: 30_000 })
  const detail = journal.stdout.trim() ? `\nlast lines of journalctl -u ${unit}:\n${journal.stdout.trimEnd()}` : ''
  throw new Error(`${unit} did not start: exit code ${result.code}: systemctl ${failed}${detail}`)
}

/**
 * For daemons whose binaries or config a task may have just replaced: enabled and running, restarted when
 * `changed` (remembered on the node until it succeeds); systemd is reloaded when units changed or when it
 * reports a unit file newer than what it loaded (after an interrupted run).
 */
export async function ensureServiceCurrent(
  t: TaskContext, unit: string, options: { changed: boolean; unitsChanged: boolean; enable?: string[] },
): Promise<void> {
  await ensureServiceState(t, {
    enable: options.enable ?? [unit], start: unit, restart: unit, restartNow: options.changed, unitsChanged: options.unitsChanged,
  })
}
