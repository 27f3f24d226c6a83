/** KubeKey's range syntax in roleGroups: `node[2:10]` means node2 … node10, inclusive, without zero padding. */
const RANGE = /^([^[\]:]*)\[(\d+):(\d+)\]$/

export type RoleGroupEntry =
  | { names: string[] }
  | { problem: string }
  /** A name the entry stands for that is not in `hosts`. */
  | { unknownHost: string }

/**
 * A role group entry → the host names it stands for (a plain name stands for itself). Stops at the first name
 * that is not a known host, so a range cannot expand further than the hosts list.
 */
export function expandRoleGroupEntry(entry: string, isKnownHost: (name: string) => boolean): RoleGroupEntry {
  if (!/[[\]]/.test(entry)) return isKnownHost(entry) ? { names: [entry] } : { unknownHost: entry }
  const match = RANGE.exec(entry)
  if (!match) {
    return { problem: `"${entry}" is not a host range: write prefix[start:end], e.g. node[2:10] for node2 … node10` }
  }
  const [, prefix, startText, endText] = match
  const start = Number(startText)
  const end = Number(endText)
  if (start > end) return { problem: `"${entry}" is an empty range: the start (${start}) is greater than the end (${end})` }
  const names: string[] = []
  for (let number = start; number <= end; number++) {
    const name = `${prefix}${number}`
    if (!isKnownHost(name)) return { unknownHost: name }
    names.push(name)
  }
  return { names }
}
