/** A field path as a list of keys and indexes, from the document root (`spec`, `hosts`, 1, `name`). */
export type PathSegment = string | number
export type FieldPath = readonly PathSegment[]

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/

/** `['spec', 'hosts', 1, 'name']` → `spec.hosts[1].name`; keys that are not identifiers are quoted. */
export function formatPath(path: FieldPath): string {
  let text = ''
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`
    else if (IDENTIFIER.test(segment)) text += text === '' ? segment : `.${segment}`
    else text += `[${JSON.stringify(segment)}]`
  }
  return text
}

const SEGMENT = /\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y

/** The inverse of formatPath; undefined when the text is not a field path. */
export function parseFieldPath(text: string): FieldPath | undefined {
  const path: PathSegment[] = []
  SEGMENT.lastIndex = 0
  while (SEGMENT.lastIndex < text.length) {
    const match = SEGMENT.exec(text)
    if (!match) return undefined
    const [, name, index, quoted] = match
    path.push(name ?? (index !== undefined ? Number(index) : (JSON.parse(quoted) as string)))
  }
  return path
}
