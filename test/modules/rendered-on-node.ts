/**
 * Render against a real deploy: every file `kk-action render` shows for a run's modules, unless it holds a
 * placeholder (a value only the run or the node gives), must be on the node byte for byte, with its mode.
 */
import { readFileSync } from 'node:fs'
import type { ModuleId } from '../../src/plan/types.js'
import { renderFiles } from '../../src/render.js'
import type { TestNodes } from '../nodes/testnodes.js'
import type { ModuleRunSetup } from './pipeline-run.js'

const PLACEHOLDER = /<[^<>\n]+>/

/** What differs between render's files and the nodes' (empty when none); `compared` counts the files checked. */
export async function renderDrift(
  setup: Pick<ModuleRunSetup, 'plan' | 'config' | 'nodes'>, options: { except?: string[]; modules?: ModuleId[] } = {},
): Promise<{ problems: string[]; compared: number }> {
  const problems: string[] = []
  let compared = 0
  for (const file of renderFiles(setup.plan, setup.config)) {
    // A runner file sent as it is: the node must hold its bytes.
    const expected = file.source ? readFileSync(file.source, 'utf8') : file.content
    if ((!file.source && PLACEHOLDER.test(file.content)) || options.except?.includes(file.path)) continue
    if (options.modules && !file.modules.some((id) => options.modules!.includes(id))) continue
    compared++
    const nodes: TestNodes = setup.nodes
    const content = await nodes.exec(file.host, ['cat', '--', file.path])
    const mode = await nodes.exec(file.host, ['stat', '-c', '%a', '--', file.path])
    if (content.code !== 0) problems.push(`${file.host}:${file.path}: not on the node (${content.stderr.trim()})`)
    else if (content.stdout !== expected) problems.push(`${file.host}:${file.path}: the node's bytes differ from render's`)
    if (mode.code === 0 && mode.stdout.trim() !== file.mode.toString(8)) {
      problems.push(`${file.host}:${file.path}: mode ${mode.stdout.trim()} on the node, ${file.mode.toString(8)} in render`)
    }
  }
  return { problems, compared }
}

// Uploads that are not files render shows: artifacts (binaries, archives kept on the node, charts) and the
// short-lived bundle putFiles unpacks (its files are listed one by one).
const NOT_RENDERED = [/^\/usr\/local\/s?bin\/[^/]+$/, /^\/opt\/cni\/bin\//, /^\/var\/lib\/kk-action\/artifacts\//, /\/\.kk-bundle-[0-9a-f]+$/, /\/etc\/kubekey\/network\/[^/]+\.tgz$/]

/** Files a run uploaded (its `upload` events) that render does not list for that host: render would hide them. */
export function unlistedUploads(setup: Pick<ModuleRunSetup, 'plan' | 'config'>, events: Array<{ type: string; host?: string; path?: string }>): string[] {
  const listed = new Set(renderFiles(setup.plan, setup.config).map((file) => `${file.host}:${file.path}`))
  const uploaded = events.flatMap((event) => (event.type === 'upload' && event.host && event.path ? [`${event.host}:${event.path}`] : []))
  return [...new Set(uploaded)].filter((key) => !listed.has(key) && !NOT_RENDERED.some((pattern) => pattern.test(key.slice(key.indexOf(':') + 1))))
}

/** The events a CLI run wrote to its logs directory. */
export function loggedEvents(logsDir: string): Array<{ type: string; host?: string; path?: string }> {
  return readFileSync(`${logsDir}/events.ndjson`, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
}
