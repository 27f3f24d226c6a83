/**
 * Kubernetes patch releases that can no longer grow: the final patch of each minor out of upstream support
 * (kubernetes/website releases, the CHANGELOGs). A later patch of these minors was never released.
 */
import { parseVersion } from './version.js'

const FINAL_PATCH: Record<number, number> = {
  19: 16, 20: 15, 21: 14, 22: 17, 23: 17, 24: 17, 25: 16, 26: 15, 27: 16, 28: 15, 29: 15, 30: 14,
}

/** "v1.28.16 was never released: v1.28.15 was the last 1.28 patch", or undefined for a version that may exist. */
export function neverReleased(version: string): string | undefined {
  const [major, minor, patch] = parseVersion(version)
  const final = major === 1 ? FINAL_PATCH[minor] : undefined
  if (final === undefined || patch <= final) return undefined
  return `${version} was never released: v1.${minor}.${final} was the last 1.${minor} patch`
}
