import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { actionsConsoleSink } from '../../src/report/actions-console.js'
import { cliConsoleSink } from '../../src/report/console.js'
import { duration } from '../../src/report/format.js'
import { Redactor } from '../../src/report/redact.js'
import { failingRun, SECRETS } from './synthetic.js'

const HOSTS = ['node1', 'node2']

function captureStdout(): { text: () => string; restore: () => void } {
  const chunks: string[] = []
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk))
    return true
  })
  return { text: () => chunks.join(''), restore: () => spy.mockRestore() }
}

function collect(stream: PassThrough): () => string {
  let text = ''
  stream.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
  return () => text
}

afterEach(() => vi.restoreAllMocks())

describe('actionsConsoleSink', () => {
  it('prints one group per module, one line per host per task, and an error annotation per failing host after the group', () => {
    const stdout = captureStdout()
    const sink = actionsConsoleSink(new Redactor([SECRETS.envSecret]))
    for (const event of failingRun(HOSTS)) sink.emit(event)
    stdout.restore()
    const lines = stdout.text().split('\n')
    expect(lines.filter((line) => line.startsWith('::group::'))).toEqual(['::group::precheck (node1, node2)', '::group::containerd (node1, node2)'])
    expect(lines.filter((line) => line === '::endgroup::')).toHaveLength(2)
    expect(lines).toContain('  node1  check sudo  unchanged  0.0 s')
    expect(lines).toContain('  node1  install containerd  changed  0.0 s')
    expect(lines).toContain('  node2  install containerd  failed (attempt 2)  0.0 s: exit code 1: systemctl restart containerd')
    expect(lines).toContain('containerd: failed in 0.2 s, 1 changed')
    const errors = lines.filter((line) => line.startsWith('::error'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/^::error title=kk-action%3A containerd failed on node2::task "install containerd": exit code 1: systemctl restart containerd%0Aauth with \*\*\* failed%0A%0Aauth with \*\*\* failed \(attempt 2\)%0Akubeadm join 10\.0\.0\.2:6443 --token \*\*\*$/)
    expect(lines.indexOf(errors[0])).toBeGreaterThan(lines.lastIndexOf('::endgroup::'))
    expect(stdout.text()).not.toContain(SECRETS.envSecret)
    expect(stdout.text()).not.toContain(SECRETS.joinToken)
  })

  it('turns task warnings into warning annotations naming module and host, and keeps node text from becoming a command', () => {
    const stdout = captureStdout()
    const sink = actionsConsoleSink()
    const base = { time: '2026-11-27T00:00:00.000Z', type: 'log', module: 'configure-os', task: 'swap', host: 'node1' } as const
    sink.emit({ ...base, line: 'swap is on; turned it off', level: 'warning' })
    sink.emit({ ...base, host: '::add-mask::node', line: 'hello' })
    stdout.restore()
    // The runner shows the title as "kk-action: configure-os on node1".
    expect(stdout.text()).toContain('::warning title=kk-action%3A configure-os on node1::swap is on; turned it off\n')
    expect(stdout.text()).toContain(': :add-mask::node: hello\n')
    expect(stdout.text()).not.toMatch(/^::add-mask::/m)
  })
})

describe('cliConsoleSink', () => {
  it('names the first hosts of a big module and counts the rest', () => {
    const stream = new PassThrough()
    const text = collect(stream)
    const hosts = Array.from({ length: 40 }, (_, i) => `node${i + 1}`)
    cliConsoleSink(stream, false).emit({ time: '2026-11-27T00:00:00.000Z', type: 'module-start', module: 'precheck', hosts })
    expect(text()).toBe('==> precheck (node1, node2, node3, node4, node5, node6 and 34 more)\n')
  })

  it('writes plain lines when the stream is not a terminal', () => {
    const stream = new PassThrough()
    const text = collect(stream)
    const sink = cliConsoleSink(stream, false, new Redactor([SECRETS.envSecret]))
    for (const event of failingRun(HOSTS)) sink.emit(event)
    sink.close()
    expect(text()).not.toContain('\u001b[')
    expect(text().split('\n')).toEqual(expect.arrayContaining([
      '==> precheck (node1, node2)',
      '  node2  check sudo  unchanged  0.0 s',
      '<== precheck: ok in 0.1 s, 0 changed',
      '  node2  install containerd  failed (attempt 2)  0.0 s: exit code 1: systemctl restart containerd',
      '<== containerd: failed in 0.2 s, 1 changed',
    ]))
    expect(text()).not.toContain(SECRETS.envSecret)
  })

  it('on a terminal, redraws one line per host in place and leaves each module\'s final state on screen', async () => {
    const stream = new PassThrough()
    const text = collect(stream)
    const sink = cliConsoleSink(stream, true, new Redactor([SECRETS.password]))
    const events = failingRun(HOSTS)
    const precheckEnd = events.findIndex((event) => event.type === 'module-end')
    for (const event of events.slice(0, 2)) sink.emit(event) // module-start, node1 task-start
    await new Promise((resolve) => setTimeout(resolve, 250)) // the display redraws every 100 ms
    const partial = render(text())
    expect(partial[0]).toBe('==> precheck')
    expect(partial.slice(-3)).toEqual([
      expect.stringMatching(/^ [⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] node1 {2}check sudo 0\.[1-9] s {2}\(0 done, 0 changed\)$/),
      ' ✓ node2  0 done, 0 changed',
      expect.stringMatching(/^ {3}precheck 0\.[1-9] s$/),
    ])
    for (const event of events.slice(2, precheckEnd + 1)) sink.emit(event)
    for (const event of events.slice(precheckEnd + 1)) sink.emit(event)
    sink.close()
    const screen = render(text())
    expect(screen).toEqual([
      '==> precheck',
      ' ✓ node1  1 done, 0 changed',
      ' ✓ node2  1 done, 0 changed',
      expect.stringMatching(/^ {3}precheck \d+\.\d s$/),
      '<== precheck: ok in 0.1 s, 0 changed',
      '==> containerd',
      '  node1: using password ***', // printed above the display
      ' ✓ node1  1 done, 1 changed',
      ' ✗ node2  failed: install containerd: exit code 1: systemctl restart containerd',
      expect.stringMatching(/^ {3}containerd \d+\.\d s$/),
      '<== containerd: failed in 0.2 s, 1 changed',
    ])
  })
})

/** What a terminal shows after the stream: applies "cursor up N lines" + "erase below". */
function render(output: string): string[] {
  const esc = String.fromCharCode(27)
  const redraw = new RegExp(`^${esc}\\[(\\d+)F${esc}\\[0J$`)
  const screen: string[] = []
  let line = ''
  for (const part of output.split(new RegExp(`(${esc}\\[\\d+F${esc}\\[0J|\\n)`))) {
    const up = redraw.exec(part)
    if (up) screen.splice(screen.length - Number(up[1]))
    else if (part === '\n') { screen.push(line); line = '' }
    else line += part
  }
  return screen
}

describe('the terminal display, closed inside a module', () => {
  it('leaves the module\'s last state on screen and stops redrawing', async () => {
    const stream = new PassThrough()
    const text = collect(stream)
    const sink = cliConsoleSink(stream, true)
    for (const event of failingRun(HOSTS).slice(0, 2)) sink.emit(event)
    sink.close()
    const closed = text()
    await new Promise((resolve) => setTimeout(resolve, 250))
    expect(text()).toBe(closed)
    expect(render(closed).slice(-3)).toEqual([
      expect.stringMatching(/^ . node1 {2}check sudo \d+\.\d s {2}\(0 done, 0 changed\)$/),
      ' ✓ node2  0 done, 0 changed',
      expect.stringMatching(/^ {3}precheck \d+\.\d s$/),
    ])
  })
})

describe('duration', () => {
  it('reads as seconds under a minute and minutes with seconds above, never "60 s"', () => {
    expect(duration(4_249)).toBe('4.2 s')
    expect(duration(59_949)).toBe('59.9 s')
    expect(duration(59_950)).toBe('1 min 0 s')
    expect(duration(119_600)).toBe('2 min 0 s')
    expect(duration(185_000)).toBe('3 min 5 s')
  })
})
