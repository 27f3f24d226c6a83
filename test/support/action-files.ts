/** `name<<delimiter` blocks and `name=value` lines of GITHUB_OUTPUT / GITHUB_STATE, as the runner reads them. */
export function fileCommands(text: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const match of text.matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) found[match[1]] = match[3]
  for (const match of text.matchAll(/^([\w-]+)=(.*)$/gm)) found[match[1]] ??= match[2]
  return found
}
