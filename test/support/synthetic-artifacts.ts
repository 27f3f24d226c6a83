/**
 * TEST DATA — stand-ins for real release files: deterministic bytes at the real upstream URL paths
 * (taken from the catalog's templates), with their own sums, so a local mirror and a local "upstream"
 * can serve them and the resolver verifies them exactly as it would the real ones.
 */
import { builtinCatalog, fillTemplate } from '../../src/artifacts/catalog.js'
import type { ArtifactName, ArtifactNeed, PlannedArtifact } from '../../src/artifacts/types.js'
import { sha256Hex, syntheticBytes, type ChecksumEntry } from './mirror.js'

export interface SyntheticArtifact {
  planned: PlannedArtifact
  content: Buffer
}

/**
 * A planned artifact whose bytes are synthetic. `upstream` replaces the real origin (https://dl.k8s.io,
 * https://github.com, ...) so nothing leaves this machine; the URL path stays the real one.
 */
export function syntheticArtifact(need: ArtifactNeed, size: number, upstream: string): SyntheticArtifact {
  const spec = builtinCatalog.artifacts[need.name]
  const realUrl = fillTemplate(spec.url, need.version, need.arch)
  const path = new URL(realUrl).pathname
  const content = syntheticBytes(`${need.name}/${need.version}/${need.arch}`, size)
  return {
    content,
    planned: {
      ...need,
      url: `${upstream.replace(/\/+$/, '')}${path}`,
      path,
      file: path.slice(path.lastIndexOf('/') + 1),
      sha256: sha256Hex(content),
      sha256Source: 'checksums-file',
      format: spec.format,
      ...(spec.members ? { members: spec.members.map((member) => fillTemplate(member, need.version, need.arch)) } : {}),
    },
  }
}

/** Files for startMirror: URL path → bytes. */
export function mirrorFiles(artifacts: SyntheticArtifact[]): Map<string, Buffer> {
  return new Map(artifacts.map(({ planned, content }) => [planned.path, content]))
}

export function checksumEntries(artifacts: SyntheticArtifact[]): ChecksumEntry[] {
  return artifacts.map(({ planned }) => ({ name: planned.name, version: planned.version, arch: planned.arch, sha256: planned.sha256 }))
}

/** Sizes of the real v1.30 amd64 files, roughly, in bytes. */
export const REAL_SIZES: Record<ArtifactName, number> = {
  kubeadm: 50 * 2 ** 20,
  kubelet: 100 * 2 ** 20,
  kubectl: 50 * 2 ** 20,
  containerd: 47 * 2 ** 20,
  runc: 10 * 2 ** 20,
  crictl: 18 * 2 ** 20,
  docker: 70 * 2 ** 20,
  'cri-dockerd': 18 * 2 ** 20,
  etcd: 20 * 2 ** 20,
  'cni-plugins': 40 * 2 ** 20,
  calicoctl: 60 * 2 ** 20,
  helm: 16 * 2 ** 20,
  calico: 80 * 2 ** 10,
  flannel: 8 * 2 ** 10,
  cilium: 200 * 2 ** 10,
}

/** The artifacts a v1.30 cluster with containerd, kubekey etcd and calico needs on amd64 (catalog defaults). */
export function v130ContainerdNeeds(kubernetesVersion = 'v1.30.1', arch: ArtifactNeed['arch'] = 'amd64'): ArtifactNeed[] {
  const defaults = builtinCatalog.defaults['1.30']
  const names: ArtifactName[] = ['containerd', 'runc', 'crictl', 'etcd', 'cni-plugins', 'calicoctl']
  return [
    ...(['kubeadm', 'kubelet', 'kubectl'] as const).map((name) => ({ name, version: kubernetesVersion, arch })),
    ...names.map((name) => ({ name, version: defaults[name]!, arch })),
  ]
}
