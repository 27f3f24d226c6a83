import { readFile, readdir } from 'node:fs/promises'
import { join, relative } from 'node:path'

/** Every file under `root` by relative path, with its text. */
export async function readTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out[relative(root, join(entry.parentPath, entry.name))] = await readFile(join(entry.parentPath, entry.name), 'utf8')
  }
  return out
}
