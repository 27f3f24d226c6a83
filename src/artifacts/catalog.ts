import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { UserError } from '../errors.js'
import type { Arch } from '../config/types.js'
import { ARTIFACT_NAMES, artifactKey, type ArtifactName, type ArtifactSpec, type Catalog, type PlannedArtifact } from './types.js'
import bundled from './catalog.json' with { type: 'json' }

export const builtinCatalog = bundled as unknown as Catalog

const UNAME: Record<Arch, string> = { amd64: 'x86_64', arm64: 'aarch64' }

export function fillTemplate(template: string, version: string, arch: Arch): string {
  return template.replaceAll('{version}', version).replaceAll('{arch}', arch).replaceAll('{uname}', UNAME[arch])
}

/** The catalog with a user's `checksums` file laid over it: its versions add to or replace ours. */
export function withChecksumsFile(catalog: Catalog, file: string): { catalog: Catalog; count: number } {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new UserError(`cannot read the checksums file`, { file }, 'Check the `checksums` input / --checksums path')
  }
  let data: unknown
  try {
    data = parse(text)
  } catch (error) {
    throw new UserError(`the checksums file is not valid JSON or YAML: ${(error as Error).message.split('\n')[0]}`, { file })
  }
  const artifacts = (data as { artifacts?: unknown })?.artifacts
  if (!artifacts || typeof artifacts !== 'object') {
    throw new UserError('the checksums file has no `artifacts` map', { file },
      'Expected { "artifacts": { "<name>": { "versions": { "<version>": { "amd64": "<sha256>" } } } } }')
  }
  const merged: Catalog = { ...catalog, artifacts: { ...catalog.artifacts } }
  let count = 0
  const userSums = new Set(catalog.userSums)
  for (const [name, entry] of Object.entries(artifacts as Record<string, Partial<ArtifactSpec>>)) {
    if (!(ARTIFACT_NAMES as readonly string[]).includes(name)) {
      throw new UserError(`unknown artifact "${name}"`, { file, field: `artifacts.${name}` }, `Known: ${ARTIFACT_NAMES.join(', ')}`)
    }
    const base = merged.artifacts[name as ArtifactName]
    const versions = { ...base.versions }
    for (const [version, sums] of Object.entries(entry.versions ?? {})) {
      for (const [arch, sum] of Object.entries(sums ?? {})) {
        if (!/^[0-9a-f]{64}$/i.test(String(sum))) {
          throw new UserError(`"${sum}" is not a sha256 (64 hex digits)`, { file, field: `artifacts.${name}.versions.${version}.${arch}` })
        }
        count++
        userSums.add(artifactKey({ name: name as ArtifactName, version, arch: arch as Arch }))
      }
      versions[version] = { ...versions[version], ...lowercase(sums ?? {}) }
    }
    merged.artifacts[name as ArtifactName] = {
      ...base,
      ...(entry.url ? { url: entry.url } : {}),
      ...(entry.format ? { format: entry.format } : {}),
      ...(entry.members ? { members: entry.members } : {}),
      versions,
    }
  }
  return { catalog: { ...merged, userSums }, count }
}

function lowercase(sums: Partial<Record<Arch, string>>): Partial<Record<Arch, string>> {
  return Object.fromEntries(Object.entries(sums).map(([arch, sum]) => [arch, String(sum).toLowerCase()]))
}

/** The sum the catalog knows for one artifact, or undefined. */
export function knownSha256(catalog: Catalog, name: ArtifactName, version: string, arch: Arch): string | undefined {
  return catalog.artifacts[name].versions[version]?.[arch]
}

export function plannedArtifact(
  catalog: Catalog, name: ArtifactName, version: string, arch: Arch, sha256: string,
  sha256Source: PlannedArtifact['sha256Source'],
): PlannedArtifact {
  const spec = catalog.artifacts[name]
  const url = fillTemplate(spec.url, version, arch)
  const path = new URL(url).pathname
  return {
    name, version, arch, url, path,
    file: path.slice(path.lastIndexOf('/') + 1),
    sha256, sha256Source,
    format: spec.format,
    ...(spec.members ? { members: spec.members.map((m) => fillTemplate(m, version, arch)) } : {}),
  }
}

/** Kubernetes minor "1.30" of "v1.30.2". */
export function kubernetesMinor(version: string): string {
  const [major, minor] = version.replace(/^v/, '').split('.')
  return `${major}.${minor}`
}

/** Default versions of the non-Kubernetes components for a Kubernetes version (nearest known minor). */
export function componentDefaults(catalog: Catalog, kubernetesVersion: string): {
  versions: Partial<Record<ArtifactName, string>>
  minor: string
  exact: boolean
} {
  const minor = kubernetesMinor(kubernetesVersion)
  if (catalog.defaults[minor]) return { versions: catalog.defaults[minor], minor, exact: true }
  const known = Object.keys(catalog.defaults).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))
  const wanted = Number(minor.split('.')[1])
  const nearest = wanted < Number(known[0].split('.')[1]) ? known[0] : known[known.length - 1]
  return { versions: catalog.defaults[nearest], minor: nearest, exact: false }
}
