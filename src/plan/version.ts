/** Kubernetes-style versions: "v1.26.13" (the leading v is optional here). */
export function parseVersion(version: string): number[] {
  return version.replace(/^v/, '').split(/[.+-]/).slice(0, 3).map((part) => Number.parseInt(part, 10) || 0)
}

export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a)
  const pb = parseVersion(b)
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0)
  return 0
}

export function atLeast(version: string, minimum: string): boolean {
  return compareVersions(version, minimum) >= 0
}
