import type { ClusterConfig } from '../config/types.js'
import { UserError } from '../errors.js'

/**
 * An image the way KubeKey names it: `<namespace>/<repo>:<tag>` on Docker Hub, or
 * `<privateRegistry>/<namespaceOverride | namespace>/<repo>:<tag>`.
 */
export function kubekeyImage(config: ClusterConfig, namespace: string, repo: string, tag: string): string {
  const { privateRegistry, namespaceOverride } = config.registry
  const registry = privateRegistry?.replace(/^https?:\/\//, '').replace(/\/+$/, '')
  const image = registry ? `${registry}/${namespaceOverride || namespace}/${repo}:${tag}` : `${namespace}/${repo}:${tag}`
  // It lands unquoted in a YAML manifest.
  if (!/^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/.test(image)) {
    throw new UserError(`"${image}" is not a valid image reference`, { file: config.file, field: 'spec.registry.privateRegistry' },
      'Use a registry host[:port] and, in namespaceOverride, a plain repository path')
  }
  return image
}
