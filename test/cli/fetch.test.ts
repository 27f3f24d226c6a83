/**
 * `kk-action fetch` for air-gapped runners, through the bundled CLI and the local test mirror: the bundle holds
 * the plan's artifacts in the mirror layout plus checksums.json with the sums the catalog lacks (here the
 * calico chart's, read from the mirror's copy of the publisher's index), and a second machine with no mirror
 * and no index verifies the bundle with that file alone.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { runCli } from '../support/bundle.js'

describe('kk-action fetch: a bundle an air-gapped runner can verify', () => {
  let mirror: MirrorBuild
  let server: MirrorServer
  let dir: string
  let config: string

  beforeAll(async () => {
    mirror = await buildMirror()
    server = await serveMirror(mirror.root)
    dir = mkdtempSync(join(tmpdir(), 'kk-fetch-'))
    config = join(dir, 'cluster.yaml')
    writeFileSync(config, `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata: {name: bundle}
spec:
  hosts:
  - {name: cp1, address: 10.20.0.11, user: root, arch: amd64}
  roleGroups: {etcd: [cp1], control-plane: [cp1], worker: [cp1]}
  kubernetes: {version: v1.30.1, containerManager: containerd}
  network: {plugin: calico}
  componentVersions:
${Object.entries(mirror.componentVersions).map(([name, version]) => `    ${name}: "${version}"`).join('\n')}
`)
  }, 300_000)
  afterAll(async () => {
    await server?.close()
  })

  it('fetch writes the artifacts and checksums.json with the calico chart\'s sum from its index', async () => {
    const bundle = join(dir, 'kk-bundle')
    const result = await runCli(['fetch', '-f', config, '--dest', bundle, '--mirror', server.url, '--checksums', mirror.checksumsFile], { timeoutMs: 300_000 })
    expect(result.status, result.stderr).toBe(0)
    const chart = mirror.files.find((f) => f.name === 'calico' && f.version === mirror.componentVersions.calico)!
    expect(existsSync(join(bundle, chart.path))).toBe(true)
    const sums = JSON.parse(readFileSync(join(bundle, 'checksums.json'), 'utf8'))
    expect(sums.artifacts.calico.versions[chart.version]).toEqual({ amd64: chart.sha256 })
    expect(result.stderr).toContain(`${join(bundle, 'checksums.json')}: the sums kk-action's catalog lacks`)
  }, 300_000)

  it('without mirror or index, the bundle and its checksums.json are enough; without the file the plan says what to do', async () => {
    const bundle = join(dir, 'kk-bundle')
    const again = join(dir, 'copy')
    const offline = await runCli(['fetch', '-f', config, '--dest', again, '--offline-dir', bundle, '--checksums', join(bundle, 'checksums.json')], { timeoutMs: 300_000 })
    expect(offline.status, offline.stderr).toBe(0)
    // The fixture's own checksums (Debian builds) but not the bundle's: the chart's sum is missing.
    const missing = await runCli(['fetch', '-f', config, '--dest', join(dir, 'nothing'), '--offline-dir', bundle, '--checksums', mirror.checksumsFile],
      { timeoutMs: 300_000 })
    expect(missing.status).toBe(1)
    expect(missing.stderr).toContain('module network needs calico')
    expect(missing.stderr).toContain('neither could be reached')
  }, 300_000)
})
