import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Redactor } from '../../src/report/redact.js'
import { DeploymentReport } from '../../src/report/report.js'
import { safeFileName } from '../../src/report/safe-name.js'
import { failingRun, HOSTILE_HOSTS, samplePlan, SECRETS } from './synthetic.js'

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort()
}

function runReport() {
  const base = mkdtempSync(join(tmpdir(), 'kk-report-'))
  const dir = join(base, 'logs')
  const redactor = new Redactor([SECRETS.password, SECRETS.envSecret])
  const report = DeploymentReport.open({ dir, plan: samplePlan(), redactor })
  for (const event of failingRun()) report.emit(event)
  const markdown = report.finish({
    error: new Error('module containerd failed on 1 host(s)'),
    artifacts: [{ name: 'containerd', version: '1.7.13', arch: 'amd64', source: 'mirror', bytes: 3 * 1024 * 1024, ms: 1500 }],
    logs: { artifactName: 'kk-action-logs-deploy' },
  })
  return { base, dir, markdown }
}

describe('the logs directory from a synthetic event stream', () => {
  it('holds plan.json, events.ndjson, one log per host and module, and summary.md, all inside the directory', () => {
    const { base, dir } = runReport()
    const hostDirs = HOSTILE_HOSTS.map(safeFileName)
    expect(new Set(hostDirs).size).toBe(HOSTILE_HOSTS.length)
    expect(filesUnder(dir)).toEqual([
      'events.ndjson',
      ...hostDirs.map((host) => `hosts/${host}/precheck.log`),
      ...hostDirs.slice(0, 2).map((host) => `hosts/${host}/containerd.log`), // the run failed on the second host
      'plan.json',
      'summary.md',
    ].sort())
    // Nothing escaped: the only thing in the parent is the logs directory itself.
    expect(readdirSync(base)).toEqual(['logs'])
    for (const host of hostDirs) expect(resolve(dir, 'hosts', host).startsWith(join(dir, 'hosts') + '/')).toBe(true)
    expect(JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'))).toEqual(samplePlan())
  })

  it('writes one JSON object per event (no output lines) with time, module, task, host, status, changed, duration, exit code', () => {
    const { dir } = runReport()
    const lines = readFileSync(join(dir, 'events.ndjson'), 'utf8').trimEnd().split('\n')
    const events = lines.map((line) => JSON.parse(line))
    expect(events).toHaveLength(failingRun().filter((event) => event.type !== 'output').length)
    expect(events[0]).toEqual({ time: '2026-11-27T00:00:00.010Z', type: 'module-start', module: 'precheck', hosts: HOSTILE_HOSTS })
    expect(events).toContainEqual({
      time: expect.any(String), type: 'command', module: 'precheck', task: 'check sudo', host: 'node1', durationMs: 5, exitCode: 0, command: 'sudo -n true',
    })
    expect(events).toContainEqual({
      time: expect.any(String), type: 'task-end', module: 'containerd', task: 'install containerd', host: 'node1', status: 'changed', changed: true, durationMs: 40, attempt: 1,
    })
    expect(events.at(-1)).toEqual({ time: expect.any(String), type: 'module-end', module: 'containerd', status: 'failed', changed: 1, durationMs: 200 })
  })

  it('logs each command in a host file with its start time, output lines, exit code and duration, in order', () => {
    const { dir } = runReport()
    const log = readFileSync(join(dir, 'hosts', safeFileName('../../escape'), 'containerd.log'), 'utf8')
    const lines = log.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^2026-11-27T00:00:00\.\d{3}Z task "install containerd" started \(attempt 1\)$/)
    // The command's start is its end time minus its duration; its output follows it.
    expect(lines[1]).toMatch(/^2026-11-27T00:00:00\.\d{3}Z \$ echo \*\*\* \| systemctl restart containerd$/)
    expect(lines[2]).toBe('  err| auth with *** failed (attempt 1)')
    expect(lines[3]).toBe('  out| kubeadm join 10.0.0.2:6443 --token ***')
    expect(lines[4]).toMatch(/ exit 1 after 0\.03 s$/)
    expect(lines[5]).toMatch(/ task "install containerd" failed after 0\.03 s: exit code 1: systemctl restart containerd$/)
    expect(lines[6]).toBe('    auth with *** failed')
    expect(lines[7]).toMatch(/ task "install containerd" started \(attempt 2\)$/)
    const started = Date.parse(lines[1].split(' ')[0])
    const ended = Date.parse(lines[4].split(' ')[0])
    expect(ended - started).toBe(25)
    expect(readFileSync(join(dir, 'hosts/node1/containerd.log'), 'utf8')).toContain('note: using password ***')
  })

  it('writes the summary: modules with status, hosts, duration and changed; skipped with reasons; artifacts; failing hosts with last lines; the logs artifact', () => {
    const { dir, markdown } = runReport()
    expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toBe(markdown)
    expect(markdown).toContain('## kk-action deploy: failed in module `containerd`')
    expect(markdown).toContain('Kubernetes v1.30.14 · containerd · 4 host(s)')
    expect(markdown).toContain('| precheck | ✅ ok | node1, ../../escape, a/b\\|c, . | 0.1 s | 0 |')
    expect(markdown).toContain('| containerd | ❌ failed | node1, ../../escape, a/b\\|c, . | 0.2 s | 1 |')
    expect(markdown).toContain('| etcd | not run | node1 |  |  |')
    expect(markdown).toContain('| cri-dockerd | kubernetes.containerManager is containerd |')
    expect(markdown).toContain('| containerd | 1.7.13 | amd64 | mirror | 3.0 MiB | 1.5 s |')
    expect(markdown).toContain('**../../escape**: module `containerd`, task "install containerd": exit code 1: systemctl restart containerd')
    expect(markdown).toMatch(/```text\nauth with \*\*\* failed \(attempt 2\)\nkubeadm join 10\.0\.0\.2:6443 --token \*\*\*\n```/)
    expect(markdown).not.toContain('attempt 1)') // the last attempt's lines only
    expect(markdown).toContain('artifact `kk-action-logs-deploy` (uploaded by the post step)')
    // node1's retry-free success is not a failure
    expect(markdown).not.toContain('**node1**')
  })

  it('leaves none of the secrets in any file it wrote', () => {
    const { dir } = runReport()
    for (const file of filesUnder(dir)) {
      const text = readFileSync(join(dir, file), 'utf8')
      for (const secret of Object.values(SECRETS)) expect(text, `${file} holds a secret`).not.toContain(secret)
    }
  })

  it('keeps the output of a command that never ended (a timeout, a cancel) and truncates a reused directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kk-report-'))
    writeFileSync(join(dir, 'events.ndjson'), '{"stale":true}\n')
    const report = DeploymentReport.open({ dir, redactor: new Redactor() })
    const base = { module: 'etcd' as const, task: 'start etcd', host: 'node1' }
    report.emit({ time: '2026-11-27T00:00:01.000Z', type: 'module-start', module: 'etcd', hosts: ['node1'] })
    report.emit({ time: '2026-11-27T00:00:01.100Z', type: 'task-start', ...base, attempt: 1 })
    report.emit({ time: '2026-11-27T00:00:01.200Z', type: 'output', ...base, stream: 'stdout', line: 'waiting for quorum' })
    report.emit({ time: '2026-11-27T00:00:31.100Z', type: 'task-end', ...base, status: 'failed', durationMs: 30_000, attempt: 1, error: 'task "start etcd" timed out after 30s' })
    report.finish()
    const log = readFileSync(join(dir, 'hosts/node1/etcd.log'), 'utf8')
    expect(log).toContain('(output of a command in task "start etcd" that did not finish)\n  out| waiting for quorum\n')
    expect(readFileSync(join(dir, 'events.ndjson'), 'utf8')).not.toContain('stale')
  })
})

describe('a run that is killed before the report finishes', () => {
  it('already has every event and every finished command on disk (writes are synchronous)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kk-report-'))
    const report = DeploymentReport.open({ dir, plan: samplePlan(), redactor: new Redactor() })
    const events = failingRun()
    for (const event of events) report.emit(event)
    // No finish(), no close: what the post step finds after SIGKILL of the main step.
    const lines = readFileSync(join(dir, 'events.ndjson'), 'utf8').trimEnd().split('\n')
    expect(lines).toHaveLength(events.filter((event) => event.type !== 'output').length)
    expect(readFileSync(join(dir, 'hosts', safeFileName('../../escape'), 'containerd.log'), 'utf8'))
      .toMatch(/task "install containerd" failed after 0\.03 s(.|\n)*started \(attempt 2\)(.|\n)*exit 1 after(.|\n)*failed after/)
    expect(readdirSync(dir).sort()).toEqual(['events.ndjson', 'hosts', 'plan.json'])
  })
})

describe('a logs directory that cannot be written', () => {
  it('never breaks the pipeline that emits into it: the first failure is kept for a warning, the summary still comes back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kk-report-'))
    const report = DeploymentReport.open({ dir, plan: samplePlan(), redactor: new Redactor() })
    rmSync(join(dir, 'hosts'), { recursive: true })
    writeFileSync(join(dir, 'hosts'), 'not a directory') // like a full or vanished disk: every host file fails
    for (const event of failingRun()) report.emit(event)
    expect(report.writeProblem()).toMatch(/^the logs directory .* could not be written: (ENOTDIR|EEXIST)/)
    expect(report.failingHosts()).toEqual(['../../escape'])
    expect(report.finish()).toContain('failed in module `containerd`')
    expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toContain('failed in module `containerd`')
  })
})

describe('safeFileName', () => {
  it('keeps ordinary host names and makes hostile ones one distinct, harmless segment', () => {
    expect(safeFileName('node-1.example.com')).toBe('node-1.example.com')
    for (const name of ['..', '.', '', '../x', 'a/b', 'a\\b', '-rf', 'x'.repeat(300), 'ünïcode', 'a\nb']) {
      const safe = safeFileName(name)
      expect(safe, name).toMatch(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,79}$/)
    }
    expect(safeFileName('a/b')).not.toBe(safeFileName('a_b'))
    expect(safeFileName('a/b')).not.toBe(safeFileName('a:b'))
  })
})
