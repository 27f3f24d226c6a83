import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { withChecksumsFile, builtinCatalog } from '../../src/artifacts/catalog.js'
import { mapWithLimit } from '../../src/artifacts/limit.js'
import { fetchBundle, resolveArtifacts, type ResolveOptions } from '../../src/artifacts/resolve.js'
import type { PlannedArtifact } from '../../src/artifacts/types.js'
import { isUserError } from '../../src/errors.js'
import { buildPlan } from '../../src/plan/build.js'
import { makeConfig } from '../plan/make-config.js'
import { fakeChartDigest } from '../plan/chart-index.js'
import { sha256Hex, startMirror, writeChecksumsFile, type Mirror } from '../support/mirror.js'
import { recordingLogger } from '../support/recording-logger.js'
import { refusedUrl } from '../support/results-service.js'
import { checksumEntries, mirrorFiles, syntheticArtifact, v130ContainerdNeeds, type SyntheticArtifact } from '../support/synthetic-artifacts.js'

const FAST = { attempts: 2, baseDelayMs: 10, maxDelayMs: 50, stallTimeoutMs: 400 }

let mirror: Mirror
let upstreamUrl: string
let set: SyntheticArtifact[]
let scratch: string

beforeAll(async () => {
  // Nothing listens upstream: any request that gets past the mirror or offline-dir fails loudly.
  upstreamUrl = (await refusedUrl()).replace(/\/$/, '')
  set = v130ContainerdNeeds().map((need) => syntheticArtifact(need, 32 * 1024, upstreamUrl))
  mirror = await startMirror({ files: mirrorFiles(set) })
})
afterAll(async () => {
  await mirror.stop()
})
beforeEach(async () => {
  mirror.requests.length = 0
  mirror.clearFaults()
  scratch = await mkdtemp(join(tmpdir(), 'kk-resolve-'))
})
afterEach(async () => {
  await rm(scratch, { recursive: true, force: true })
})

function options(extra: Partial<ResolveOptions> = {}): ResolveOptions {
  return { dest: join(scratch, 'dest'), mirror: mirror.url, useCache: false, concurrency: 3, log: recordingLogger(), tuning: FAST, ...extra }
}

const planned = () => set.map(({ planned }) => planned)

describe('resolveArtifacts', () => {
  it('resolves a full v1.30 containerd set from the mirror, each file verified, in input order', async () => {
    const results = await resolveArtifacts(planned(), options())
    expect(results.map((result) => result.artifact.name)).toEqual(['kubeadm', 'kubelet', 'kubectl', 'containerd', 'runc', 'crictl', 'etcd', 'cni-plugins', 'calicoctl'])
    for (const result of results) {
      expect(result.source).toBe('mirror')
      expect(sha256Hex(await readFile(result.path))).toBe(result.artifact.sha256)
      expect(result.ms).toBeGreaterThanOrEqual(0)
    }
    expect(mirror.requests).toHaveLength(set.length)
  })

  it('fetches identical name/version/arch once and gives every duplicate the same file', async () => {
    const [kubeadm, kubelet] = planned()
    const results = await resolveArtifacts([kubeadm, kubelet, { ...kubeadm }, kubeadm], options())
    expect(results.map((result) => result.artifact.name)).toEqual(['kubeadm', 'kubelet', 'kubeadm', 'kubeadm'])
    expect(new Set([results[0].path, results[2].path, results[3].path]).size).toBe(1)
    expect(mirror.requestsFor('/kubeadm')).toHaveLength(1)
  })

  it('treats the same name and version for another arch as another artifact', async () => {
    const arm = syntheticArtifact({ name: 'runc', version: '1.1.12', arch: 'arm64' }, 1000, upstreamUrl)
    mirror.add(arm.planned.path, arm.content)
    const amd = planned().find((artifact) => artifact.name === 'runc')!
    const results = await resolveArtifacts([amd, arm.planned], options())
    expect(results.map((result) => result.path.slice(scratch.length))).toEqual(['/dest/runc/1.1.12/amd64/runc.amd64', '/dest/runc/1.1.12/arm64/runc.arm64'])
    expect(mirror.requestsFor('/runc')).toHaveLength(2)
  })

  it('with reuseExisting, keeps verified files from an earlier run (source local) and replaces others', async () => {
    const [kubeadm, kubelet] = planned()
    await resolveArtifacts([kubeadm, kubelet], options())
    await writeFile(join(scratch, 'dest', 'kubelet', 'v1.30.1', 'amd64', 'kubelet'), 'damaged')
    mirror.requests.length = 0
    const again = await resolveArtifacts([kubeadm, kubelet], options({ reuseExisting: true }))
    expect(again.map((result) => result.source)).toEqual(['local', 'mirror'])
    expect(mirror.requests.map((request) => request.path)).toEqual([kubelet.path])
    // Without it (the default), everything is resolved anew.
    expect((await resolveArtifacts([kubeadm], options())).map((result) => result.source)).toEqual(['mirror'])
  })

  it('a cancelled run stops a stalled download at once, starts no other, and leaves no partial file', async () => {
    const [kubeadm] = planned()
    mirror.fault(kubeadm.path, { kind: 'stall', afterBytes: 1000 })
    const controller = new AbortController()
    const started = Date.now()
    const log = recordingLogger()
    const pending = resolveArtifacts(planned(), options({ concurrency: 1, signal: controller.signal, log, tuning: { ...FAST, stallTimeoutMs: 60_000 } }))
    while (mirror.requestsFor(kubeadm.path).length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    controller.abort('SIGINT')
    await expect(pending).rejects.toThrow()
    expect(Date.now() - started).toBeLessThan(5000)
    expect(mirror.requests.map((request) => request.path)).toEqual([kubeadm.path])
    // A cancelled download is not a failed source: upstream is not tried.
    expect(log.infos().filter((line) => line.includes('trying the next source'))).toEqual([])
    const files = (await readdir(join(scratch, 'dest'), { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile())
    expect(files.map((entry) => entry.name)).toEqual([])
  })

  it('reports every artifact that failed in one UserError, after the others finished', async () => {
    const [kubeadm, kubelet, kubectl] = planned()
    mirror.fault(kubeadm.path, { kind: 'status', status: 404 })
    mirror.fault(kubectl.path, { kind: 'status', status: 404 })
    const error = await resolveArtifacts([kubeadm, kubelet, kubectl], options()).catch((caught: unknown) => caught)
    expect(isUserError(error)).toBe(true)
    expect((error as Error).message).toMatch(/^2 artifacts could not be resolved: could not download kubeadm .* \| could not download kubectl/)
    expect(await readFile(join(scratch, 'dest', 'kubelet', 'v1.30.1', 'amd64', 'kubelet')).then(sha256Hex)).toBe(kubelet.sha256)
  })
})

describe('offline-dir', () => {
  it('a bundle from fetchBundle serves a later resolution with no network at all', async () => {
    const bundle = join(scratch, 'bundle')
    const fetched = await fetchBundle(planned(), bundle, options())
    expect(fetched.every((result) => result.source === 'mirror')).toBe(true)
    // The offline-dir layout is the URL path.
    expect(fetched.map((result) => result.path.slice(bundle.length))).toEqual(planned().map((artifact) => artifact.path))

    mirror.requests.length = 0
    const results = await resolveArtifacts(planned(), options({ offlineDir: bundle, mirror: await refusedUrl() }))
    expect(results.every((result) => result.source === 'offline-dir')).toBe(true)
    for (const result of results) expect(sha256Hex(await readFile(result.path))).toBe(result.artifact.sha256)
    expect(mirror.requests).toEqual([])
  })

  it('a file missing from the offline-dir comes from the mirror; a corrupt one is discarded for the mirror', async () => {
    const [kubeadm, kubelet, kubectl] = planned()
    const bundle = join(scratch, 'bundle')
    await fetchBundle([kubeadm, kubelet], bundle, options())
    await writeFile(join(bundle, kubelet.path), 'corrupt')
    const log = recordingLogger()
    const results = await resolveArtifacts([kubeadm, kubelet, kubectl], options({ offlineDir: bundle, log }))
    expect(results.map((result) => result.source)).toEqual(['offline-dir', 'mirror', 'mirror'])
    expect(log.warnings()).toEqual([expect.stringContaining(`kubelet v1.30.1 amd64: sha256 of ${join(bundle, kubelet.path)} is ${sha256Hex(Buffer.from('corrupt'))}`)])
  })

  it('fetchBundle keeps what is already in place and verified, and replaces what is not', async () => {
    const bundle = join(scratch, 'bundle')
    await fetchBundle(planned(), bundle, options())
    const [kubeadm] = planned()
    await writeFile(join(bundle, kubeadm.path), 'truncated')
    mirror.requests.length = 0
    const again = await fetchBundle(planned(), bundle, options())
    expect(again.filter((result) => result.source === 'mirror').map((result) => result.artifact.name)).toEqual(['kubeadm'])
    expect(mirror.requests.map((request) => request.path)).toEqual([kubeadm.path])
    expect(sha256Hex(await readFile(join(bundle, kubeadm.path)))).toBe(kubeadm.sha256)
  })

  it('refuses a version that would climb out of the destination', async () => {
    const [kubeadm] = planned()
    const error = await resolveArtifacts([{ ...kubeadm, version: '..' }], options()).catch((caught: unknown) => caught)
    expect(isUserError(error)).toBe(true)
    expect((error as Error).message).toContain('cannot be used in a path')
    expect(mirror.requests).toEqual([])
  })

  it('refuses a URL path that would leave the bundle directory', async () => {
    const [kubeadm] = planned()
    const evil: PlannedArtifact = { ...kubeadm, path: '/release/%2e%2e/%2e%2e/%2e%2e/etc/evil' }
    const error = await fetchBundle([evil], join(scratch, 'bundle'), options()).catch((caught: unknown) => caught)
    expect(isUserError(error)).toBe(true)
    expect((error as Error).message).toContain('leaves the bundle directory')
  })
})

describe('the seed case: only what running modules need is fetched', () => {
  async function planArtifacts(shape: Parameters<typeof makeConfig>[0]): Promise<PlannedArtifact[]> {
    const { plan } = await buildPlan(makeConfig(shape), { catalog: builtinCatalog, fetchChartDigest: fakeChartDigest })
    // Same names, versions and paths as the real plan; synthetic bytes served by the local mirror.
    const synthetic = plan.artifacts.map((artifact) => syntheticArtifact(artifact, 4096, upstreamUrl))
    for (const { planned: file, content } of synthetic) mirror.add(file.path, content)
    return synthetic.map(({ planned: file }) => file)
  }

  it('containerd on v1.26.13: no request for cri-dockerd or docker', async () => {
    await resolveArtifacts(await planArtifacts({ version: 'v1.26.13', containerManager: 'containerd' }), options())
    expect(mirror.requestsFor('containerd-')).toHaveLength(1)
    expect(mirror.requestsFor('cri-dockerd')).toEqual([])
    expect(mirror.requestsFor('/docker-')).toEqual([])
  })

  it('docker on v1.26.13: cri-dockerd and docker are fetched', async () => {
    await resolveArtifacts(await planArtifacts({ version: 'v1.26.13', containerManager: 'docker' }), options())
    expect(mirror.requestsFor('cri-dockerd')).toHaveLength(1)
    expect(mirror.requestsFor('/docker-')).toHaveLength(1)
  })
})

describe('the checksums file written for the mirror', () => {
  it('has the catalog entry shape, so the catalog loader accepts it and the sums match the served files', async () => {
    const file = join(scratch, 'checksums.json')
    await mkdir(dirname(file), { recursive: true })
    await writeChecksumsFile(file, checksumEntries(set))
    const { catalog, count } = withChecksumsFile(builtinCatalog, file)
    expect(count).toBe(set.length)
    for (const { planned: artifact, content } of set) {
      expect(catalog.artifacts[artifact.name].versions[artifact.version]?.[artifact.arch]).toBe(sha256Hex(content))
    }
  })
})

describe('mapWithLimit', () => {
  it('never runs more than the limit at once and keeps the order', async () => {
    let running = 0
    let peak = 0
    const results = await mapWithLimit([50, 10, 30, 20, 5, 40], 2, async (ms) => {
      running++
      peak = Math.max(peak, running)
      await new Promise((resolve) => setTimeout(resolve, ms))
      running--
      return ms * 2
    })
    expect(peak).toBe(2)
    expect(results).toEqual([100, 20, 60, 40, 10, 80])
  })
})
