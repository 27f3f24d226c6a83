/**
 * dl.k8s.io publishes `<file>.sha256` next to every Kubernetes binary. For a version the catalog lacks,
 * the plan reads it (from the mirror first, keeping the upstream path, then upstream).
 */
export function publishedSha256Reader(options: { mirror?: string; timeoutMs?: number } = {}) {
  return async (artifact: { url: string; path: string }): Promise<string | undefined> => {
    const candidates = [
      ...(options.mirror ? [`${options.mirror.replace(/\/+$/, '')}${artifact.path}.sha256`] : []),
      `${artifact.url}.sha256`,
    ]
    for (const url of candidates) {
      const sum = await readSum(url, options.timeoutMs ?? 10_000)
      if (sum) return sum
    }
    return undefined
  }
}

async function readSum(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' })
    if (!response.ok) return undefined
    const text = (await response.text()).slice(0, 4096).trim()
    const match = /^([0-9a-f]{64})(\s|$)/i.exec(text)
    return match?.[1].toLowerCase()
  } catch {
    return undefined
  }
}
