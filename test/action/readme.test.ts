import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { repoRoot } from '../support/bundle.js'
// @ts-expect-error plain JS script without types
import { renderTables } from '../../scripts/action-table.mjs'

describe('README and action.yml', () => {
  const action = parse(readFileSync(join(repoRoot, 'action.yml'), 'utf8'))
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')

  it('the inputs/outputs tables in README.md are the ones action.yml generates', () => {
    expect(readme).toContain(renderTables(action))
  })

  it('declares every input and output of design.md §3, runs on node24 with a post step that always runs', () => {
    expect(Object.keys(action.inputs).sort()).toEqual([
      'cache', 'checksums', 'cleanup', 'command', 'concurrency', 'config', 'container-manager', 'host-key-policy',
      'known-hosts', 'kubernetes-version', 'logs-artifact', 'logs-retention-days', 'matrix', 'mirror', 'network-plugin', 'nodes',
      'offline-dir', 'ssh-password', 'ssh-private-key',
    ])
    expect(Object.keys(action.outputs).sort()).toEqual(['cache-hit', 'kubeconfig', 'kubernetes-version', 'logs-artifact-id', 'logs-dir', 'plan'])
    for (const input of Object.values(action.inputs) as Array<{ description: string }>) expect(input.description.length).toBeGreaterThan(10)
    expect(action.runs).toMatchObject({ using: 'node24', main: 'dist/main/index.js', post: 'dist/post/index.js', 'post-if': 'always()' })
  })
})
