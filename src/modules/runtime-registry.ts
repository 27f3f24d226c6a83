/**
 * The config's `registry` section (mirrors, insecure registries, auths) turned into what container runtimes
 * read: per-registry host entries for containerd's certs.d (hosts.toml) and lists for Docker's daemon.json.
 * Every value comes from the user, so each is checked before it becomes a path or a TOML/JSON string.
 */
import type { ClusterConfig } from '../config/types.js'
import { UserError } from '../errors.js'
import { placeholder } from './module.js'

export type Capability = 'pull' | 'resolve' | 'push'

export interface RegistryEndpoint {
  /** scheme://host[:port][/path] */
  url: string
  capabilities: Capability[]
  skipVerify?: boolean
  /** CA certificate files on the node. */
  ca?: string[]
  /** Client certificate and key files on the node. */
  client?: Array<[cert: string, key: string]>
}

/** One registry as images name it (docker.io, harbor.local:5000) and where containerd should go for it. */
export interface RegistryHost {
  host: string
  /** The registry itself, tried after the endpoints. */
  server: string
  endpoints: RegistryEndpoint[]
}

/** Certificates found in an auth entry's `certsPath` on the node (Docker's certs.d naming: *.crt, *.cert + *.key). */
export interface CertsFound {
  ca: string[]
  client: Array<[cert: string, key: string]>
}

const DOCKER_HUB = 'docker.io'
const DOCKER_HUB_SERVER = 'https://registry-1.docker.io'
const ALL: Capability[] = ['pull', 'resolve', 'push']
// A registry host as an image reference names it: DNS name or IPv4, or a bracketed IPv6, with an optional port.
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

/** `https://harbor.local:5000/` → { scheme: 'https', host: 'harbor.local:5000' }; anything else is a UserError. */
export function parseRegistry(value: string, field: string): { scheme?: 'http' | 'https'; host: string } {
  const match = /^(?:(https?):\/\/)?([^/]*)\/*$/.exec(value.trim())
  if (!match || !HOST.test(match[2])) {
    throw new UserError(`"${value}" is not a registry host (host or host:port, optionally with http:// or https://)`, { field })
  }
  return { scheme: match[1] as 'http' | 'https' | undefined, host: match[2].toLowerCase() }
}

/** A mirror URL as Docker and containerd take it: http(s)://host[:port][/path], no query or credentials. */
export function parseMirrorUrl(value: string, field: string): string {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw new UserError(`"${value}" is not a mirror URL (https://host[:port])`, { field })
  }
  const fine = (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password && !url.search &&
    !url.hash && HOST.test(url.host)
  if (!fine) throw new UserError(`"${value}" is not a mirror URL (http(s)://host[:port][/path], no credentials or query)`, { field })
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`
}

/** The auth entries with a certsPath, whose files must be looked up on each node. */
export function certsPaths(config: ClusterConfig): string[] {
  return [...new Set(Object.values(config.registry.auths).flatMap((auth) => (auth.certsPath ? [auth.certsPath] : [])))]
}

/** Registry hosts containerd needs a hosts.toml for, sorted by host. */
export function registryHosts(config: ClusterConfig, certs: ReadonlyMap<string, CertsFound> = new Map()): RegistryHost[] {
  const hosts = new Map<string, RegistryHost>()
  const entry = (host: string, server: string): RegistryHost => {
    let found = hosts.get(host)
    if (!found) hosts.set(host, (found = { host, server, endpoints: [] }))
    return found
  }
  const { registryMirrors, insecureRegistries, auths } = config.registry

  registryMirrors.forEach((mirror, i) => {
    const url = parseMirrorUrl(mirror, `spec.registry.registryMirrors[${i}]`)
    entry(DOCKER_HUB, DOCKER_HUB_SERVER).endpoints.push({ url, capabilities: ['pull', 'resolve'] })
  })
  insecureRegistries.forEach((value, i) => {
    const { scheme, host } = parseRegistry(value, `spec.registry.insecureRegistries[${i}]`)
    // Like Docker's insecure registries: HTTPS without verification first, then plain HTTP.
    const registry = entry(host, `http://${host}`)
    registry.server = `http://${host}`
    if (scheme !== 'http') endpointFor(registry, `https://${host}`).skipVerify = true
  })
  for (const [key, auth] of Object.entries(auths)) {
    if (!auth.plainHTTP && !auth.skipTLSVerify && !auth.certsPath) continue
    const { host } = parseRegistry(key, `spec.registry.auths.${key}`)
    const registry = entry(host, `https://${host}`)
    if (auth.plainHTTP) registry.server = `http://${host}`
    const secure = endpointFor(registry, `https://${host}`)
    if (auth.skipTLSVerify) secure.skipVerify = true
    const found = auth.certsPath ? certs.get(auth.certsPath) : undefined
    if (found?.ca.length) secure.ca = found.ca
    if (found?.client.length) secure.client = found.client
  }
  return [...hosts.values()].sort((a, b) => a.host.localeCompare(b.host))
}

function endpointFor(registry: RegistryHost, url: string): RegistryEndpoint {
  let endpoint = registry.endpoints.find((e) => e.url === url)
  if (!endpoint) registry.endpoints.push((endpoint = { url, capabilities: ALL }))
  return endpoint
}

export interface RegistryCredential { host: string; username: string; password: string }

/** Credentials for registries (only entries that carry a username or password). */
export function registryCredentials(config: ClusterConfig): RegistryCredential[] {
  return Object.entries(config.registry.auths)
    .filter(([, auth]) => auth.username !== undefined || auth.password !== undefined)
    .map(([key, auth]) => ({
      host: parseRegistry(key, `spec.registry.auths.${key}`).host,
      username: auth.username ?? '',
      password: auth.password ?? '',
    }))
    .sort((a, b) => a.host.localeCompare(b.host))
}

/** The credentials as render shows them: each password a placeholder naming where it comes from. */
export function credentialPlaceholders(credentials: RegistryCredential[]): RegistryCredential[] {
  return credentials.map((credential) => ({ ...credential, password: placeholder(`secret: the password of spec.registry.auths for ${credential.host}`) }))
}

/** A TOML basic string. JSON's escapes are TOML's, except that TOML also wants DEL escaped. */
export function tomlString(value: string): string {
  return JSON.stringify(value).replace(/\x7f/g, '\\u007f')
}

export const HOSTS_TOML_MARK = '# Written by kk-action from spec.registry; changes here are replaced on the next deploy.'

/** containerd's /etc/containerd/certs.d/<host>/hosts.toml for one registry. */
export function renderHostsToml(registry: RegistryHost): string {
  const lines = [HOSTS_TOML_MARK, `server = ${tomlString(registry.server)}`]
  for (const endpoint of registry.endpoints) {
    lines.push('', `[host.${tomlString(endpoint.url)}]`)
    lines.push(`  capabilities = [${endpoint.capabilities.map(tomlString).join(', ')}]`)
    if (endpoint.skipVerify) lines.push('  skip_verify = true')
    if (endpoint.ca) lines.push(`  ca = [${endpoint.ca.map(tomlString).join(', ')}]`)
    if (endpoint.client) lines.push(`  client = [${endpoint.client.map((pair) => `[${pair.map(tomlString).join(', ')}]`).join(', ')}]`)
  }
  return `${lines.join('\n')}\n`
}

/** Docker's daemon.json lists: mirrors as URLs, insecure registries as host[:port]. */
export function dockerRegistrySettings(config: ClusterConfig): { mirrors: string[]; insecure: string[] } {
  const mirrors = config.registry.registryMirrors.map((m, i) => parseMirrorUrl(m, `spec.registry.registryMirrors[${i}]`))
  const insecure = config.registry.insecureRegistries.map((r, i) => parseRegistry(r, `spec.registry.insecureRegistries[${i}]`).host)
  for (const [key, auth] of Object.entries(config.registry.auths)) {
    if (auth.plainHTTP || auth.skipTLSVerify) insecure.push(parseRegistry(key, `spec.registry.auths.${key}`).host)
  }
  return { mirrors, insecure: [...new Set(insecure)] }
}
