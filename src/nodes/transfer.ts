/**
 * The remote side of uploads and downloads as fixed POSIX sh scripts; values only ever arrive as
 * positional arguments. An upload lands in a temp file beside the target, is checked against the
 * sha256 the caller computed locally, and only then renamed over the target, so an interrupted or
 * corrupted transfer never leaves a file at the target path.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import type { KeepOriginal } from './connection.js'
import { sh, type Command } from './quote.js'

/** The first line of the upload script's stdout: the target already has this content, or send it. */
export const SAME = 'kk-upload:same'
export const SEND = 'kk-upload:send'

// keep_original TARGET COPY MARKER: before the first write to TARGET (no MARKER yet), an existing TARGET is copied to
// COPY (unless a COPY is there already, or an older kk-action wrote TARGET: its header), then MARKER is made.
// Without COPY it does nothing.
export const KEEP_ORIGINAL = `keep_original() {
  if [ -z "$2" ] || [ -e "$3" ]; then return 0; fi
  if { [ -e "$1" ] || [ -L "$1" ]; } && ! { [ -e "$2" ] || [ -L "$2" ]; } && ! head -n 1 -- "$1" 2>/dev/null | grep -q '^# Written by kk-action'; then
    cp -a -- "$1" "$2.kk-tmp" && mv -f -- "$2.kk-tmp" "$2" || return 1
  fi
  mkdir -p -- "$(dirname -- "$3")" && : > "$3"
}`

const STORE = `set -e
target=$1 sum=$2 mode=$3 size=$4
${KEEP_ORIGINAL}
keep_original "$target" "\${5-}" "\${6-}"
# One round trip: say first whether the file is already there, so the sender can skip sending it.
if [ -f "$target" ]; then
  current=$(sha256sum < "$target" 2>/dev/null) || current=
  if [ "\${current%% *}" = "$sum" ]; then echo ${SAME}; exit 0; fi
fi
echo ${SEND}
dir=$(dirname -- "$target")
mkdir -p -- "$dir"
tmp=$(mktemp "$dir/.kk-upload.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
trap 'exit 1' HUP INT TERM PIPE
# Hash while writing (tee), so verifying costs no extra pass over the file.
actual=$(tee -- "$tmp" | sha256sum)
actual=\${actual%% *}
if [ "$actual" != "$sum" ]; then echo "sha256 mismatch after transfer: expected $sum, got $actual" >&2; exit 3; fi
# The pipeline's status is sha256sum's: a tee that failed to write (disk full) shows as a short file.
written=$(wc -c < "$tmp")
if [ "$written" -ne "$size" ]; then echo "only $written of $size bytes were written" >&2; exit 3; fi
chmod "$mode" "$tmp"
mv -f -- "$tmp" "$target"
trap - EXIT`

const VERIFY_AND_MOVE = `set -e
tmp=$1 target=$2 sum=$3 mode=$4
trap 'rm -f -- "$tmp"' EXIT
actual=$(sha256sum < "$tmp")
actual=\${actual%% *}
if [ "$actual" != "$sum" ]; then echo "sha256 mismatch after transfer: expected $sum, got $actual" >&2; exit 3; fi
chmod "$mode" "$tmp"
mv -f -- "$tmp" "$target"
trap - EXIT`

const SHA256 = `if [ -f "$1" ]; then sum=$(sha256sum < "$1") && echo "\${sum%% *}"; fi`

// Before an sftp upload (which cannot create directories on its way) or a local one: keep the original when asked,
// make the target's directory, then print its sha256.
const PREPARE = `${KEEP_ORIGINAL}
keep_original "$1" "\${2-}" "\${3-}" || exit 1
mkdir -p -- "$(dirname -- "$1")" || exit 1
if [ -f "$1" ]; then sum=$(sha256sum < "$1") && echo "\${sum%% *}"; fi`

/**
 * Prints SAME and stops when `target` already has `sum`; otherwise prints SEND, reads stdin into a temp
 * file beside `target`, verifies `sum` and `size`, sets `mode` and renames it over `target`.
 */
export function storeCommand(target: string, sha256: string, mode: number, size: number, keep?: KeepOriginal): Command {
  return sh`sh -c ${STORE} kk-upload ${target} ${sha256} ${modeText(mode)} ${size} ${keepArgs(keep)}`
}

function keepArgs(keep: KeepOriginal | undefined): string[] {
  return keep ? [keep.copy, keep.marker] : []
}

/** For a file already sent to `tmp` (sftp): verify, chmod and rename, or remove it. */
export function verifyAndMoveCommand(tmp: string, target: string, sha256: string, mode: number): Command {
  return sh`sh -c ${VERIFY_AND_MOVE} kk-upload ${tmp} ${target} ${sha256} ${modeText(mode)}`
}

/** Prints the file's sha256, or nothing when it is not a regular file. */
export function sha256Command(path: string): Command {
  return sh`sh -c ${SHA256} kk-sha256 ${path}`
}

/** Keeps the original (see KeepOriginal), creates the target's directory, then prints the target's sha256 (nothing when it is not a regular file). */
export function prepareCommand(target: string, keep?: KeepOriginal): Command {
  return sh`sh -c ${PREPARE} kk-prepare ${target} ${keepArgs(keep)}`
}

export function catCommand(path: string): Command {
  return sh`cat -- ${path}`
}

export function parseSha256(stdout: string): string | undefined {
  const sum = stdout.trim()
  return /^[0-9a-f]{64}$/.test(sum) ? sum : undefined
}

export function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0')
}

export const DEFAULT_MODE = 0o644

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
