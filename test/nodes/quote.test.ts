import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { and, quote, raw, sh } from '../../src/nodes/quote.js'
import { withSudo } from '../../src/nodes/sudo.js'

/** What a real POSIX shell makes of a command line: its arguments, one per line of NUL-separated output. */
function argsSeenByShell(commandText: string): string[] {
  const out = execFileSync('sh', ['-c', `set -- ${commandText}; for a in "$@"; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' })
  return out.split('\0').slice(0, -1)
}

const hostile = [
  'plain', '', ' ', 'two words', "it's", '"double"', '$(touch /tmp/kk-pwned)', '`id`', '$HOME', '${PATH}',
  'a;b', 'a&&b', 'a|b', 'a>b', '<in', 'line1\nline2', 'tab\there', '\\back\\slash', '*', '?', '[a-z]', '~root',
  '-n', '--', "'", "''", "\\'", '#comment', 'ünïcödé', '!bang', 'x=1',
]

describe('quote', () => {
  it.each(hostile)('passes %j through sh unchanged as one word', (value) => {
    expect(argsSeenByShell(quote(value))).toEqual([value])
  })

  it('leaves safe words bare and quotes everything else', () => {
    expect(quote('/usr/local/bin/kubeadm')).toBe('/usr/local/bin/kubeadm')
    expect(quote('v1.26.13')).toBe('v1.26.13')
    expect(quote(42)).toBe('42')
    expect(quote('')).toBe("''")
    expect(quote("it's")).toBe(`'it'\\''s'`)
  })

  it('refuses a NUL byte, which no shell argument can hold', () => {
    expect(() => quote('a\0b')).toThrow(/NUL/)
  })
})

describe('sh template', () => {
  it('quotes every value and keeps the literal text', () => {
    const path = '/etc/my dir/$(reboot)'
    const command = sh`install -m ${644} ${path} ${'/tmp/x;y'}`
    expect(command.text).toBe(`install -m 644 '/etc/my dir/$(reboot)' '/tmp/x;y'`)
  })

  it('spreads arrays as one word each', () => {
    const args = ['a b', 'c;d', '$(e)']
    expect(argsSeenByShell(sh`${args}`.text)).toEqual(args)
  })

  it('embeds a Command unquoted, so commands compose', () => {
    const inner = sh`echo ${'a b'}`
    expect(sh`${inner} && ${raw('true')}`.text).toBe(`echo 'a b' && true`)
  })

  it('joins with and()', () => {
    expect(and(raw('a'), sh`b ${'c d'}`, raw('e')).text).toBe(`a && b 'c d' && e`)
  })

  it.each(hostile)('runs printf %%s %j and prints exactly the value', (value) => {
    const command = sh`printf '%s' ${value}`
    expect(execFileSync('sh', ['-c', command.text], { encoding: 'utf8' })).toBe(value)
  })

  it.each(hostile)('survives the extra shell of sudo wrapping: %j', (value) => {
    // withSudo nests the command in `sh -c '...'`; run that nesting without sudo itself.
    const nested = withSudo(sh`printf '%s' ${value}`, 'nopasswd').text.replace(/^sudo -n -- /, '')
    expect(execFileSync('sh', ['-c', nested], { encoding: 'utf8' })).toBe(value)
  })
})
