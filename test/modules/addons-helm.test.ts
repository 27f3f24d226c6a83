/**
 * The commands the addons module sends, run through the helm test double (which resolves a chart reference
 * the way helm's LocateChart does): a `repo/chart` name works only after `helm repo add` of that repo.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import type { Addon } from '../../src/config/types.js'
import { HELM, addonSteps } from '../../src/modules/addons-commands.js'
import { renderDouble } from '../fixtures/build-mirror.js'
import { makeConfig } from '../plan/make-config.js'

const dir = mkdtempSync(join(tmpdir(), 'kk-addons-helm-'))
const helm = join(dir, 'helm')
writeFileSync(helm, renderDouble('helm', '3.14.3'))
chmodSync(helm, 0o755)
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let state = ''
beforeEach(() => { state = mkdtempSync(join(dir, 'state-')) })

/** Runs one node command with the helm double in place of /usr/local/bin/helm. */
function onNode(text: string) {
  const env = { ...process.env, KK_DOUBLES_LOG_DIR: join(state, 'log'), KK_DOUBLES_STATE_DIR: state }
  return spawnSync('sh', ['-c', text.replaceAll(HELM, helm)], { env, encoding: 'utf8' })
}
const runHelm = (...args: string[]) => onNode([HELM, ...args].join(' '))
const config = { ...makeConfig({ controlPlanes: 1 }), file: '/repo/cluster.yaml' }

describe('the helm double resolves charts as helm does', () => {
  it('repo/chart without repo add: "Error: repo X not found"; after repo add it installs', () => {
    const refused = runHelm('upgrade', '--install', 'cache', 'bitnami/redis')
    expect(refused.status).toBe(1)
    expect(refused.stderr.trim()).toBe('Error: repo bitnami not found')
    expect(runHelm('repo', 'add', 'bitnami', 'https://charts.example.test/bitnami').stdout).toContain('"bitnami" has been added')
    expect(runHelm('upgrade', '--install', 'cache', 'bitnami/redis').status).toBe(0)
  })

  it('--repo URL with a repo/chart name: not found in that index; a bare name without --repo is refused', () => {
    const slash = runHelm('upgrade', '--install', 'cache', 'bitnami/redis', '--repo', 'https://charts.example.test/bitnami')
    expect(slash.stderr.trim()).toBe('Error: chart "bitnami/redis" not found in https://charts.example.test/bitnami repository')
    expect(runHelm('upgrade', '--install', 'cache', 'redis').stderr).toMatch(/non-absolute URLs should be in form of repo_name\/path_to_chart, got: redis/)
    expect(runHelm('upgrade', '--install', 'cache', 'redis', '--repo', 'https://charts.example.test/bitnami').status).toBe(0)
  })

  it('repo add of a known name with another URL is refused unless --force-update', () => {
    runHelm('repo', 'add', 'bitnami', 'https://a.example.test')
    expect(runHelm('repo', 'add', 'bitnami', 'https://a.example.test').stdout).toMatch(/already exists with the same configuration/)
    expect(runHelm('repo', 'add', 'bitnami', 'https://b.example.test').stderr).toMatch(/repository name \(bitnami\) already exists/)
    expect(runHelm('repo', 'add', 'bitnami', 'https://b.example.test', '--force-update').status).toBe(0)
  })
})

describe('addon charts through the helm double', () => {
  const run = (addon: Addon) => {
    for (const command of addonSteps(config, addon).commands) {
      const result = onNode(command.text)
      if (result.status !== 0) return result.stderr.trim()
    }
    return 'installed'
  }

  it('a repo/chart name with sources.chart.repo: the repo is added under its name, then the chart installed', () => {
    expect(run({ name: 'cache', namespace: 'db', sources: { chart: { name: 'bitnami/redis', repo: 'https://charts.example.test/bitnami', version: '19.0.1' } } }))
      .toBe('installed')
    const listed = onNode(`${HELM} repo list --repository-config=/etc/kubekey/addons/helm/repositories.yaml`)
    expect(listed.stdout).toBe('NAME\tURL\nbitnami\thttps://charts.example.test/bitnami\n')
    // the node's own helm repositories (~/.config/helm) are not touched
    expect(existsSync(join(state, 'helm-repositories'))).toBe(false)
  })

  it('a repository of the same name the node\'s own helm has, with another URL, stays as it is', () => {
    runHelm('repo', 'add', 'bitnami', 'https://mirror.corp.test/bitnami')
    expect(run({ name: 'cache', sources: { chart: { name: 'bitnami/redis', repo: 'https://charts.example.test/bitnami' } } })).toBe('installed')
    expect(runHelm('repo', 'list').stdout).toBe('NAME\tURL\nbitnami\thttps://mirror.corp.test/bitnami\n')
  })

  it('a changed repo URL in the config replaces kk-action\'s own entry on a rerun', () => {
    expect(run({ name: 'cache', sources: { chart: { name: 'bitnami/redis', repo: 'https://a.example.test/bitnami' } } })).toBe('installed')
    expect(run({ name: 'cache', sources: { chart: { name: 'bitnami/redis', repo: 'https://b.example.test/bitnami' } } })).toBe('installed')
  })

  it('a rerun of the same addon still installs (repo add of the same repo again is no error)', () => {
    const addon: Addon = { name: 'cache', sources: { chart: { name: 'bitnami/redis', repo: 'https://charts.example.test/bitnami' } } }
    expect(run(addon)).toBe('installed')
    expect(run(addon)).toBe('installed')
  })

  it('a bare chart name with a repo is installed from that repo', () => {
    expect(run({ name: 'web', sources: { chart: { name: 'nginx', repo: 'https://charts.example.test/stable' } } })).toBe('installed')
  })
})
