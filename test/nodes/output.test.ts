import { describe, expect, it } from 'vitest'
import { OutputCollector, redact } from '../../src/nodes/output.js'

describe('OutputCollector', () => {
  it('splits chunks into lines across chunk boundaries, per stream', () => {
    const lines: string[] = []
    const output = new OutputCollector([], (stream, line) => lines.push(`${stream}:${line}`))
    output.push('stdout', 'on')
    output.push('stderr', 'err\n')
    output.push('stdout', 'e\ntw')
    output.push('stdout', Buffer.from('o\nthree'))
    expect(output.result(0)).toEqual({ code: 0, stdout: 'one\ntwo\nthree', stderr: 'err\n' })
    expect(lines).toEqual(['stderr:err', 'stdout:one', 'stdout:two', 'stdout:three'])
  })

  it('redacts secrets in lines and results', () => {
    const lines: string[] = []
    const output = new OutputCollector(['s3cret'], (_, line) => lines.push(line))
    output.push('stderr', 'bad s3cret here\n')
    expect(output.result(1).stderr).toBe('bad *** here\n')
    expect(lines).toEqual(['bad *** here'])
    expect(redact('a s3cret s3cret', ['s3cret', ''])).toBe('a *** ***')
  })

  it('keeps the last 1 MiB and stays linear on 64 MiB of output without a newline', () => {
    const output = new OutputCollector([])
    const chunk = 'x'.repeat(32 * 1024)
    const started = Date.now()
    for (let i = 0; i < 2048; i++) output.push('stdout', chunk)
    const result = output.result(0)
    expect(result.stdout.length).toBe(1024 * 1024)
    expect(Date.now() - started).toBeLessThan(5_000)
  })
})
