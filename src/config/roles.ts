import { ROLES, type Host, type Role } from './types.js'
import type { RawSpec } from './schema.js'
import { expandRoleGroupEntry } from './host-ranges.js'
import type { ConfigSource } from './source.js'

type RoleGroupKey = keyof RawSpec['roleGroups']

/** KubeKey's role group names → ours; `master` is KubeKey's older name for `control-plane`. */
const ROLE_OF_GROUP: Partial<Record<RoleGroupKey, Role>> = {
  etcd: 'etcd',
  master: 'control-plane',
  'control-plane': 'control-plane',
  worker: 'worker',
}

/** Expands ranges, checks every name against `hosts`, and sets each host's roles. */
export function resolveRoleGroups(roleGroups: RawSpec['roleGroups'], hosts: Host[], source: ConfigSource): Record<Role, string[]> {
  const known = new Set(hosts.map((host) => host.name))
  const members: Record<Role, Set<string>> = { etcd: new Set(), 'control-plane': new Set(), worker: new Set() }
  for (const [group, entries] of Object.entries(roleGroups) as [RoleGroupKey, string[] | undefined][]) {
    const names = expandGroup(group, entries ?? [], known, source)
    const role = ROLE_OF_GROUP[group]
    if (role) names.forEach((name) => members[role].add(name))
  }
  for (const host of hosts) host.roles = ROLES.filter((role) => members[role].has(host.name))
  return {
    etcd: hostsWithRole(hosts, 'etcd'),
    'control-plane': hostsWithRole(hosts, 'control-plane'),
    worker: hostsWithRole(hosts, 'worker'),
  }
}

function expandGroup(group: string, entries: string[], known: Set<string>, source: ConfigSource): string[] {
  return entries.flatMap((entry, index) => {
    const path = ['spec', 'roleGroups', group, index]
    const expanded = expandRoleGroupEntry(entry, (name) => known.has(name))
    if ('problem' in expanded) throw source.error(path, expanded.problem)
    if ('unknownHost' in expanded) {
      const via = expanded.unknownHost === entry ? '' : ` (from the range "${entry}")`
      throw source.error(path, `host "${expanded.unknownHost}"${via} is in role group ${group} but not in spec.hosts`, {
        host: expanded.unknownHost,
        hint: 'Add it to spec.hosts or remove it from the role group',
      })
    }
    return expanded.names
  })
}

function hostsWithRole(hosts: Host[], role: Role): string[] {
  return hosts.filter((host) => host.roles.includes(role)).map((host) => host.name)
}
