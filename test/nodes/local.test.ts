import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { UserError } from '../../src/errors.js'
import { LocalConnection } from '../../src/nodes/local.js'
import { sh } from '../../src/nodes/quote.js'

const dir = mkdtempSync(join(tmpdir(), 'kk-local-'))
const local = new LocalConnection('runner')

describe('LocalConnection (the runner itself)', () => {
  it('runs a command, streams lines and returns the exit code', async () => {
    const lines: string[] = []
    const result = await local.exec(sh`echo one; echo two >&2; printf three; exit 3`, { onLine: (s, l) => lines.push(`${s}:${l}`) })
    expect(result).toEqual({ code: 3, stdout: 'one\nthree', stderr: 'two\n' })
    expect(lines.sort()).toEqual(['stderr:two', 'stdout:one', 'stdout:three'])
  })

  it('feeds stdin and keeps hostile values as data', async () => {
    const hostile = `$(touch ${dir}/pwned); 'q' "d"\nline`
    expect((await local.exec(sh`printf '%s|' ${hostile}; cat`, { stdin: 'in' })).stdout).toBe(`${hostile}|in`)
    expect(readdirSync(dir)).not.toContain('pwned')
  })

  it('kills a command at its timeout, with everything it started', async () => {
    const started = Date.now()
    const error = await local.exec(sh`sleep 30 & sleep 30`, { timeoutMs: 300 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UserError)
    expect((error as Error).message).toMatch(/^host runner: command timed out/)
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('installs atomically with mode, skips an identical file, and refuses a wrong checksum', async () => {
    const source = join(dir, 'src.bin')
    writeFileSync(source, 'payload\n')
    const target = join(dir, 'deep/er/target.bin')
    expect(await local.upload(source, target, { mode: 0o750 })).toEqual({ changed: true, bytes: 8 })
    expect(statSync(target).mode & 0o777).toBe(0o750)
    expect(await local.upload(source, target, { mode: 0o750 })).toEqual({ changed: false, bytes: 0 })
    const wrong = await local.upload(source, join(dir, 'deep/other.bin'), { sha256: '0'.repeat(64) }).catch((e: unknown) => e)
    expect((wrong as Error).message).toMatch(/^host runner: copy of .* failed: sha256 mismatch/)
    expect(readdirSync(join(dir, 'deep'))).toEqual(['er'])
  })

  it('keeps the file the machine had before the first write (also an identical one), never one kk-action wrote', async () => {
    const source = join(dir, 'config.toml')
    const keep = (target: string) => ({ copy: `${target}.kk-action-orig`, marker: join(dir, 'taken-over', target) })
    // The machine's own file, with its own mode: kept as it was, then overwritten.
    const packaged = join(dir, 'etc/containerd/config.toml')
    mkdirSync(join(packaged, '..'), { recursive: true })
    writeFileSync(packaged, 'packaged\n', { mode: 0o644 })
    writeFileSync(source, 'ours\n')
    expect(await local.upload(source, packaged, { mode: 0o600, keepOriginal: keep(packaged) })).toEqual({ changed: true, bytes: 5 })
    expect(readFileSync(`${packaged}.kk-action-orig`, 'utf8')).toBe('packaged\n')
    expect(statSync(`${packaged}.kk-action-orig`).mode & 0o777).toBe(0o644)
    expect(readFileSync(packaged, 'utf8')).toBe('ours\n')
    // Later writes (new content) leave the kept original alone.
    writeFileSync(source, 'ours, changed\n')
    expect(await local.upload(source, packaged, { mode: 0o600, keepOriginal: keep(packaged) })).toEqual({ changed: true, bytes: 14 })
    expect(readFileSync(`${packaged}.kk-action-orig`, 'utf8')).toBe('packaged\n')
    // No file before: nothing kept, now or when kk-action's own file is replaced.
    const fresh = join(dir, 'etc/docker/daemon.json')
    expect(await local.upload(source, fresh, { keepOriginal: keep(fresh) })).toEqual({ changed: true, bytes: 14 })
    writeFileSync(source, '{}\n')
    expect(await local.upload(source, fresh, { keepOriginal: keep(fresh) })).toEqual({ changed: true, bytes: 3 })
    expect(readdirSync(join(fresh, '..'))).toEqual(['daemon.json'])
    // The same bytes as ours already there: nothing sent, the machine's file still kept.
    const same = join(dir, 'etc/same.conf')
    writeFileSync(same, '{}\n')
    expect(await local.upload(source, same, { keepOriginal: keep(same) })).toEqual({ changed: false, bytes: 0 })
    expect(readFileSync(`${same}.kk-action-orig`, 'utf8')).toBe('{}\n')
    // A config an older kk-action wrote (its header, no taken-over mark yet) is ours, not the machine's.
    const older = join(dir, 'etc/containerd/older.toml')
    writeFileSync(older, '# Written by kk-action. Do not edit.\nversion = 2\n')
    expect(await local.upload(source, older, { keepOriginal: keep(older) })).toEqual({ changed: true, bytes: 3 })
    expect(existsSync(`${older}.kk-action-orig`)).toBe(false)
  })

  it('downloads with a 0600 mode and reports an unchanged file', async () => {
    const source = join(dir, 'admin.conf')
    writeFileSync(source, 'apiVersion: v1\n')
    const target = join(dir, 'kubeconfig')
    expect(await local.download(source, target)).toEqual({ changed: true, bytes: 15 })
    expect(statSync(target).mode & 0o777).toBe(0o600)
    expect(readFileSync(target, 'utf8')).toBe('apiVersion: v1\n')
    expect(await local.download(source, target)).toEqual({ changed: false, bytes: 0 })
  })

  it('runs sudo commands as root (directly when the runner is root, through sudo -n otherwise)', async () => {
    expect((await local.exec(sh`id -u`, { sudo: true })).stdout).toBe('0\n')
  })
})
