/**
 * The real Kubernetes v1.20.2 of test/real-k8s/build.sh, served the way upstream serves it: a mirror with
 * kubeadm, kubelet and kubectl at dl.k8s.io's paths (each with its `.sha256`), Debian's containerd, runc,
 * CNI plugins, etcd and docker in the upstream layouts (from test/fixtures/build-mirror.ts), kk-crictl (the
 * stand-in for cri-tools' crictl) as a crictl release archive, and a checksums file with all their sums
 * (they differ from upstream's, which were built elsewhere). Plus the images of images.ts.
 */
import { execFile, execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { buildMirror, urlPath, type MirrorBuild } from '../fixtures/build-mirror.js'
import { buildKubernetesImages, type KubernetesImages } from './images.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const REPO = join(HERE, '..', '..')
export const REAL_VERSION = 'v1.20.2'
/** The crictl version the stand-in is published as (cri-tools' release for Kubernetes 1.20). */
export const CRICTL_VERSION = '1.20.0'
const KUBE_BINARIES = ['kubeadm', 'kubelet', 'kubectl'] as const

/**
 * The directory with the built binaries, or why there is none. `.ci/run` builds them before the tests;
 * elsewhere run `bash test/real-k8s/build.sh` once (about 7 minutes on 2 cores, then cached).
 */
export function realBinariesSkipReason(): string | undefined {
  return realBinaries() ? undefined : 'the real Kubernetes v1.20.2 binaries are not built: run `bash test/real-k8s/build.sh` (CI does)'
}

export function realBinaries(): string | undefined {
  if (process.env.KK_REAL_K8S_BIN && existsSync(join(process.env.KK_REAL_K8S_BIN, '.complete'))) return process.env.KK_REAL_K8S_BIN
  try {
    return execFileSync('bash', [join(HERE, 'build.sh'), '--cached-only'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

export interface RealMirror {
  root: string
  checksumsFile: string
  /** For spec.componentVersions: Debian's containerd, runc, CNI, etcd, docker; the crictl stand-in. */
  componentVersions: Record<string, string>
  images: KubernetesImages
  base: MirrorBuild
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex')
}

function fingerprint(bins: string): string {
  const hash = createHash('sha256').update(bins)
  for (const f of ['images.ts', 'fixture.ts', '../fixtures/images/image-tar.ts']) hash.update(readFileSync(join(HERE, f)))
  return hash.digest('hex').slice(0, 16)
}

/** Builds (or reuses) the real-k8s mirror and images under .kk-test/real-k8s. */
export async function buildRealMirror(bins: string, outDir = join(REPO, '.kk-test', 'real-k8s')): Promise<RealMirror> {
  const base = await buildMirror()
  const key = fingerprint(bins) + base.checksumsFile + sha256(base.checksumsFile)
  const stamp = join(outDir, 'build.json')
  if (existsSync(stamp)) {
    const saved = JSON.parse(readFileSync(stamp, 'utf8')) as { key: string; mirror: Omit<RealMirror, 'base'> }
    if (saved.key === key) return { ...saved.mirror, base }
  }
  rmSync(outDir, { recursive: true, force: true })
  const root = join(outDir, 'mirror')
  const sums: Record<string, Record<string, string>> = {}
  const add = (name: string, version: string, file: string): void => { (sums[name] ??= {})[version] = sha256(file) }

  const componentVersions: Record<string, string> = { crictl: CRICTL_VERSION }
  for (const f of base.files.filter((file) => file.source === 'debian')) {
    const dest = join(root, f.path)
    mkdirSync(dirname(dest), { recursive: true })
    symlinkSync(f.file, dest)
    ;(sums[f.name] ??= {})[f.version] = f.sha256
    componentVersions[f.name] = f.version
  }
  for (const name of KUBE_BINARIES) {
    const dest = join(root, urlPath(name, REAL_VERSION))
    mkdirSync(dirname(dest), { recursive: true })
    copyFileSync(join(bins, name), dest)
    writeFileSync(`${dest}.sha256`, sha256(dest)) // dl.k8s.io publishes one beside each binary
    add(name, REAL_VERSION, dest)
  }
  const crictl = join(root, urlPath('crictl', CRICTL_VERSION))
  mkdirSync(dirname(crictl), { recursive: true })
  await promisify(execFile)('sh', ['-c', 'tar --owner=0 --group=0 --numeric-owner --mtime=@1700000000 -C "$1" -cf - crictl | gzip -n >"$2"', 'sh', bins, crictl])
  add('crictl', CRICTL_VERSION, crictl)

  const checksumsFile = join(outDir, 'checksums.json')
  const artifacts = Object.fromEntries(Object.entries(sums).map(([name, versions]) =>
    [name, { versions: Object.fromEntries(Object.entries(versions).map(([v, sum]) => [v, { amd64: sum }])) }]))
  writeFileSync(checksumsFile, JSON.stringify({ artifacts }, null, 2) + '\n')

  const images = buildKubernetesImages(bins, join(outDir, 'images'))
  const mirror = { root, checksumsFile, componentVersions, images }
  writeFileSync(stamp, JSON.stringify({ key, mirror }, null, 2))
  return { ...mirror, base }
}
