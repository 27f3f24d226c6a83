import { isIPv4, isIPv6 } from 'node:net'

/** Kubernetes node names are RFC 1123 subdomains (what `kubectl get nodes` will show). */
const RFC1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const MAX_NODE_NAME_LENGTH = 253

export function isValidNodeName(name: string): boolean {
  return name.length <= MAX_NODE_NAME_LENGTH && RFC1123_SUBDOMAIN.test(name)
}

export const KUBERNETES_VERSION = /^v\d+\.\d+\.\d+$/

/** Why a Kubernetes version is rejected, or undefined when it is a plain `vX.Y.Z`. */
export function kubernetesVersionProblem(version: string): string | undefined {
  if (KUBERNETES_VERSION.test(version)) return undefined
  if (/^\d+\.\d+\.\d+$/.test(version)) {
    return `"${version}" lacks the leading "v": KubeKey requires vX.Y.Z, write v${version}`
  }
  const distribution = /^v\d+\.\d+\.\d+-(.+)$/.exec(version)?.[1]
  if (distribution) {
    return `"${version}" names a distribution or pre-release ("${distribution}"): kk-action deploys upstream Kubernetes only, use vX.Y.Z`
  }
  return `"${version}" is not a Kubernetes version: use vX.Y.Z, e.g. v1.30.14`
}

/** Why a CIDR (`a/n`, or dual-stack `ipv4/n,ipv6/n` as KubeKey allows) is rejected, or undefined. */
export function cidrProblem(value: string): string | undefined {
  const parts = value.split(',').map((part) => part.trim())
  if (parts.length > 2) return `"${value}" has ${parts.length} CIDRs: give one, or two for dual-stack (IPv4,IPv6)`
  for (const part of parts) {
    if (!isCidr(part)) return `"${part}" is not a CIDR: use address/prefix, e.g. 10.233.64.0/18 or fd00:10:233::/112`
  }
  if (parts.length === 2 && !(isIPv4Cidr(parts[0]) && !isIPv4Cidr(parts[1]))) {
    return `"${value}" is not a dual-stack pair: give the IPv4 CIDR first, then the IPv6 CIDR`
  }
  return undefined
}

function isCidr(text: string): boolean {
  return isIPv4Cidr(text) || isIPv6Cidr(text)
}

const ADDRESS_AND_PREFIX = /^([^/]+)\/(\d{1,3})$/

function isIPv4Cidr(text: string): boolean {
  const [, address = '', prefix] = ADDRESS_AND_PREFIX.exec(text) ?? []
  return isIPv4(address) && Number(prefix) <= 32
}

function isIPv6Cidr(text: string): boolean {
  const [, address = '', prefix] = ADDRESS_AND_PREFIX.exec(text) ?? []
  return isIPv6(address) && Number(prefix) <= 128
}

/** Component versions are stored without a leading `v` (URLs add it where upstream uses one). */
const COMPONENT_VERSION = /^v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)$/

export function normalizeComponentVersion(version: string): string | undefined {
  return COMPONENT_VERSION.exec(version)?.[1]
}
