import { describe, expect, it } from 'vitest'
import { GroupReader, stopCommand } from '../../src/nodes/killable.js'

const read = (chunks: string[]) => {
  const reader = new GroupReader()
  const passed = chunks.map((chunk) => reader.push(Buffer.from(chunk)).toString()).join('') + reader.rest().toString()
  return { group: reader.group, passed }
}

describe('the process group line on a cancellable command\'s stderr', () => {
  it('is taken off, also when it arrives in pieces', () => {
    expect(read(['kk-action-process-group 4242\nwarning: x\n'])).toEqual({ group: 4242, passed: 'warning: x\n' })
    expect(read(['kk-action-pro', 'cess-group 17', '\n', 'rest'])).toEqual({ group: 17, passed: 'rest' })
  })

  it('anything else (sudo refusing, before the command ran) passes unchanged and names no group', () => {
    expect(read(['sudo: a password is required\n'])).toEqual({ group: undefined, passed: 'sudo: a password is required\n' })
    expect(read(['kk-action-process-group x\n'])).toEqual({ group: undefined, passed: 'kk-action-process-group x\n' })
    expect(read(['short'])).toEqual({ group: undefined, passed: 'short' })
  })

  it('stops only a real group', () => {
    expect(() => stopCommand(1)).toThrow(/not a process group/)
    expect(stopCommand(4242).text).toMatch(/ '?4242'?$/)
  })
})
