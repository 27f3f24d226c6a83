import type { Arch, Bastion, Host } from './types.js'
import { HOST_ARCHES, type RawBastion, type RawHost } from './schema.js'
import type { ConfigSource } from './source.js'

const DEFAULT_USER = 'root'
const DEFAULT_SSH_PORT = 22
const DEFAULT_PRIVATE_KEY_PATH = '~/.ssh/id_rsa'

/** Hosts with KubeKey's defaults; roles are filled in from roleGroups later. */
export function normalizeHosts(hosts: RawHost[], sharedBastion: RawBastion | undefined, source: ConfigSource): Host[] {
  rejectDuplicateNames(hosts, source)
  return hosts.map((host, index) => normalizeHost(host, index, sharedBastion, source))
}

function normalizeHost(raw: RawHost, index: number, sharedBastion: RawBastion | undefined, source: ConfigSource): Host {
  // A dual-stack internalAddress ("ipv4,ipv6") stands in for address by its first entry: SSH needs one address.
  const address = raw.address || raw.internalAddress?.split(',')[0].trim()
  const internalAddress = raw.internalAddress || raw.address
  if (!address || !internalAddress) {
    throw source.error(['spec', 'hosts', index], 'has no address', { host: raw.name, hint: 'Set address (for SSH) and/or internalAddress (the node IP); each defaults to the other' })
  }
  const host: Host = {
    name: raw.name,
    address,
    internalAddress,
    port: raw.port || DEFAULT_SSH_PORT,
    user: raw.user || DEFAULT_USER,
    arch: HOST_ARCHES[(raw.arch || 'amd64') as keyof typeof HOST_ARCHES] satisfies Arch,
    roles: [],
    labels: raw.labels ?? {},
  }
  Object.assign(host, credentials(raw))
  const bastion = raw.bastion ?? sharedBastion
  if (bastion) host.bastion = normalizeBastion(bastion)
  return host
}

/** KubeKey falls back to ~/.ssh/id_rsa only when no credential at all is given. */
function credentials(raw: RawHost | RawBastion): Pick<Host, 'password' | 'privateKey' | 'privateKeyPath'> {
  const result: Pick<Host, 'password' | 'privateKey' | 'privateKeyPath'> = {}
  if (raw.password) result.password = raw.password
  if (raw.privateKey) result.privateKey = raw.privateKey
  if (raw.privateKeyPath) result.privateKeyPath = raw.privateKeyPath
  if (!raw.password && !raw.privateKey && !raw.privateKeyPath) result.privateKeyPath = DEFAULT_PRIVATE_KEY_PATH
  return result
}

function normalizeBastion(raw: RawBastion): Bastion {
  return { address: raw.address, port: raw.port || DEFAULT_SSH_PORT, user: raw.user || DEFAULT_USER, ...credentials(raw) }
}

function rejectDuplicateNames(hosts: RawHost[], source: ConfigSource): void {
  const firstIndex = new Map<string, number>()
  hosts.forEach((host, index) => {
    const earlier = firstIndex.get(host.name)
    if (earlier === undefined) {
      firstIndex.set(host.name, index)
      return
    }
    const earlierLine = source.locate(['spec', 'hosts', earlier, 'name'])?.line
    throw source.error(['spec', 'hosts', index, 'name'], `duplicate host name "${host.name}", already used by spec.hosts[${earlier}]${earlierLine ? ` (line ${earlierLine})` : ''}`, {
      host: host.name,
      hint: 'Host names must be unique: they become the Kubernetes node names',
    })
  })
}
