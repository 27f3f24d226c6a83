/** Small text formats shared by the console sinks and the summary. */

/** Host names for a heading: the first few and a count (a heading with 200 names helps nobody). */
export function hostList(hosts: readonly string[], shown = 6): string {
  return hosts.length <= shown ? hosts.join(', ') : `${hosts.slice(0, shown).join(', ')} and ${hosts.length - shown} more`
}

/** `4.2 s` under a minute, `3 min 5 s` above. */
export function duration(ms: number): string {
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`
  const seconds = Math.round(ms / 1000)
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`
}
