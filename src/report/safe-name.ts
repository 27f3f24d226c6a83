import { createHash } from 'node:crypto'

const MAX_LENGTH = 80

/**
 * A file or directory name for a value from the config (a host name, a task name): host names are
 * untrusted input, so `../../etc`, `a/b`, `.`, control characters and very long names must all stay
 * one harmless path segment. Names that had to change get a short hash of the original, so two
 * different hosts never share a directory.
 */
export function safeFileName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.-]+/, '_')
  if (cleaned === name && name.length > 0 && name.length <= MAX_LENGTH) return name
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8)
  return `${cleaned.slice(0, MAX_LENGTH - 9) || '_'}-${hash}`
}
