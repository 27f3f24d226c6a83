/**
 * Who is who in an etcd cluster, decided from what the etcd hosts report before anything changes:
 * pure functions, so every case (fresh cluster, added host, cluster that never fully formed) is testable.
 */
import type { Host } from '../config/types.js'
import { UserError } from '../errors.js'
import { certFiles, memberName, peerUrl, type Bootstrap, type EtcdPorts } from './etcd-config.js'
import type { Member, MemberState } from './etcd-remote.js'

/** How one host takes part in this run. */
export type MemberRole =
  | { kind: 'member' } // has data: a member already, its bootstrap settings stay as they are
  | { kind: 'bootstrap'; bootstrap: Bootstrap } // part of a new cluster (now, or one that has not fully formed)
  | { kind: 'join' } // a host added to a running cluster: `etcdctl member add`, then start

export function decideRoles(hosts: Host[], states: ReadonlyMap<string, MemberState>, ports: EtcdPorts): Map<string, MemberRole> {
  checkSingleCA(hosts, states)
  const roles = new Map<string, MemberRole>()
  const withData = hosts.filter((host) => states.get(host.name)!.hasData)
  if (withData.length === 0) {
    const bootstrap = freshBootstrap(hosts, ports)
    for (const host of hosts) roles.set(host.name, { kind: 'bootstrap', bootstrap })
    return roles
  }
  // Members of a cluster bootstrapped as "new" that never started still start as that cluster planned:
  // etcd accepts a late initial member until it has published itself once.
  const original = withData.map((host) => states.get(host.name)!.env).find((env) => env.state === 'new' && env.initialCluster)
  for (const host of hosts) {
    if (states.get(host.name)!.hasData) {
      roles.set(host.name, { kind: 'member' })
      continue
    }
    const planned = original?.initialCluster?.split(',').includes(`${memberName(host)}=${peerUrl(host, ports)}`)
    roles.set(host.name, planned
      ? { kind: 'bootstrap', bootstrap: { state: 'new', initialCluster: original!.initialCluster! } }
      : { kind: 'join' })
  }
  return roles
}

/** How every member of a new cluster starts: all etcd hosts, under the names kk-action gives them. */
export function freshBootstrap(hosts: Host[], ports: EtcdPorts): Bootstrap {
  return { state: 'new', initialCluster: hosts.map((host) => `${memberName(host)}=${peerUrl(host, ports)}`).join(',') }
}

function checkSingleCA(hosts: Host[], states: ReadonlyMap<string, MemberState>): void {
  const byCA = new Map<string, string[]>()
  for (const host of hosts) {
    const sum = states.get(host.name)!.caSha256
    if (sum) byCA.set(sum, [...(byCA.get(sum) ?? []), host.name])
  }
  if (byCA.size > 1) {
    const groups = [...byCA.values()].map((names) => names.join(', ')).join(' | ')
    throw new UserError(`the etcd hosts hold different CAs in ${certFiles.ca} (hosts sharing one: ${groups})`, {},
      'An etcd cluster has one CA: copy ca.pem and ca-key.pem of the cluster to the other hosts, or reset those hosts')
  }
}

/** Members whose peer URL belongs to no etcd host of the config: waiting will not make them go. */
export function foreignMembers(hosts: Host[], members: Member[], ports: EtcdPorts): Member[] {
  const known = new Set(hosts.map((host) => peerUrl(host, ports)))
  return members.filter((member) => !member.peerUrls.some((url) => known.has(url)))
}

export function foreignMembersMessage(strangers: Member[]): string {
  const described = strangers.map((m) => `${m.name || '(unstarted)'} ${m.id} at ${m.peerUrls.join(' ')}`).join(', ')
  return `the etcd cluster has member(s) that are not etcd hosts in the config: ${described}. ` +
    'Add those hosts to roleGroups.etcd, or remove the members with `etcdctl member remove <id>`'
}

/**
 * The initial cluster a joining member starts with: the current members, itself named as the config names it.
 * etcd matches each member's whole set of peer URLs, so a name is repeated for each of its URLs.
 */
export function joiningInitialCluster(members: Member[], ownPeer: string, ownName: string): string {
  return members.flatMap((m) => m.peerUrls.map((url) => `${m.peerUrls.includes(ownPeer) ? ownName : m.name}=${url}`)).join(',')
}
