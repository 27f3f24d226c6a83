/**
 * The only way to build a remote command line. A `Command` can come from the `sh` template (every
 * interpolated value is single-quoted as data) or from `raw` (a constant written in our source),
 * so a value from the config can never become shell syntax.
 */
declare const commandBrand: unique symbol
export interface Command {
  readonly [commandBrand]: true
  readonly text: string
}

function command(text: string): Command {
  return { text } as unknown as Command
}

/** Quote one value for a POSIX shell: `it's` → `'it'\''s'`. */
export function quote(value: string | number): string {
  const text = String(value)
  if (text.includes('\0')) throw new Error('a shell argument cannot contain a NUL byte')
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(text)) return text
  return `'${text.replace(/'/g, `'\\''`)}'`
}

type Part = string | number | Command | ReadonlyArray<string | number>

function render(part: Part): string {
  if (Array.isArray(part)) return part.map((p) => quote(p)).join(' ')
  if (typeof part === 'object' && part !== null && 'text' in part) return (part as Command).text
  return quote(part as string | number)
}

/** sh`install -m ${mode} ${src} ${dest}`: literal text stays, values are quoted (arrays: one word each). */
export function sh(strings: TemplateStringsArray, ...values: Part[]): Command {
  let text = strings[0]
  values.forEach((value, i) => {
    text += render(value) + strings[i + 1]
  })
  return command(text)
}

/** A constant command written in our own source (no user values). */
export function raw(text: string): Command {
  return command(text)
}

/** Join commands: `a && b && c`. */
export function and(...commands: Command[]): Command {
  return command(commands.map((c) => c.text).join(' && '))
}
