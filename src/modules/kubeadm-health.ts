/**
 * Reading `kubectl get nodes/pods -o json` for the smoke test: which expected nodes are not Ready, which
 * kube-system pods are not running, and why, in words a user can act on.
 */
import type { ClusterConfig } from '../config/types.js'
import { UserError } from '../errors.js'

interface Condition { type?: string; status?: string; reason?: string; message?: string }
interface NodeItem { metadata?: { name?: string }; status?: { conditions?: Condition[] } }
interface ContainerStatus { name?: string; ready?: boolean; state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string } } }
interface PodItem {
  metadata?: { name?: string; namespace?: string }
  spec?: { nodeName?: string }
  status?: { phase?: string; reason?: string; message?: string; conditions?: Condition[]; containerStatuses?: ContainerStatus[] }
}

export interface Problems {
  nodes: string[]
  pods: string[]
}

function items<T>(json: string, what: string): T[] {
  let parsed: { items?: T[] }
  try {
    parsed = JSON.parse(json) as { items?: T[] }
  } catch {
    throw new Error(`kubectl get ${what} -o json printed no JSON: ${json.trim().slice(0, 200)}`)
  }
  return parsed.items ?? []
}

/** Every expected node present and Ready; one line per node that is not, with the kubelet's reason. */
export function nodeProblems(json: string, expected: string[]): string[] {
  const nodes = new Map(items<NodeItem>(json, 'nodes').map((node) => [node.metadata?.name ?? '', node]))
  const problems: string[] = []
  for (const name of expected) {
    const node = nodes.get(name)
    if (!node) {
      problems.push(`node ${name} is not registered`)
      continue
    }
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready')
    if (ready?.status === 'True') continue
    const why = [ready?.reason, ready?.message].filter(Boolean).join(': ')
    problems.push(`node ${name} is not Ready${why ? ` (${why})` : ''}`)
  }
  return problems
}

/** Pods that are neither Running with all containers ready nor Succeeded, with the first reason found. */
export function podProblems(json: string): string[] {
  const problems: string[] = []
  for (const pod of items<PodItem>(json, 'pods')) {
    const phase = pod.status?.phase ?? 'Unknown'
    if (phase === 'Succeeded') continue
    const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True'
    if (phase === 'Running' && ready) continue
    const where = pod.spec?.nodeName ? ` on ${pod.spec.nodeName}` : ''
    problems.push(`pod ${pod.metadata?.namespace ?? 'kube-system'}/${pod.metadata?.name ?? '?'}${where} is ${phase}${ready ? '' : ', not ready'}${reasonOf(pod)}`)
  }
  return problems
}

function reasonOf(pod: PodItem): string {
  const waiting = pod.status?.containerStatuses?.find((c) => c.state?.waiting?.reason)
  if (waiting) return ` (container ${waiting.name}: ${[waiting.state!.waiting!.reason, waiting.state!.waiting!.message].filter(Boolean).join(': ')})`
  const notReady = pod.status?.conditions?.find((c) => c.status !== 'True' && (c.reason || c.message))
  if (notReady) return ` (${notReady.type}: ${[notReady.reason, notReady.message].filter(Boolean).join(': ')})`
  const status = [pod.status?.reason, pod.status?.message].filter(Boolean).join(': ')
  return status ? ` (${status})` : ''
}

/** kk-action extension `spec.smokeTest`: a manifest to apply and wait for, a command to run, the time allowed. */
export interface SmokeTestSettings {
  /** Path on the runner, relative to the config file. */
  manifest?: string
  /** Run by `sh -c` on the first control plane, with KUBECONFIG set to admin.conf. */
  command?: string
  timeoutSeconds: number
}

export const DEFAULT_SMOKE_TIMEOUT_SECONDS = 300

export function smokeTestSettings(config: ClusterConfig): SmokeTestSettings {
  const raw = config.spec.smokeTest
  const field = 'spec.smokeTest'
  if (raw === undefined || raw === null) return { timeoutSeconds: DEFAULT_SMOKE_TIMEOUT_SECONDS }
  const fix = 'spec.smokeTest takes manifest (a file path), command (a shell command) and timeoutSeconds (a whole number)'
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`${field} must be a mapping`, { file: config.file, field }, fix)
  const { manifest, command, timeoutSeconds, ...unknown } = raw as Record<string, unknown>
  const bad = (name: string, problem: string) => new UserError(`${field}.${name} ${problem}`, { file: config.file, field: `${field}.${name}` }, fix)
  if (Object.keys(unknown).length) throw bad(Object.keys(unknown)[0], 'is not a smokeTest field')
  if (manifest !== undefined && (typeof manifest !== 'string' || !manifest)) throw bad('manifest', 'must be a file path')
  if (command !== undefined && (typeof command !== 'string' || !command)) throw bad('command', 'must be a shell command')
  if (timeoutSeconds !== undefined && !(Number.isInteger(timeoutSeconds) && (timeoutSeconds as number) > 0)) throw bad('timeoutSeconds', 'must be a whole number above 0')
  return {
    ...(manifest ? { manifest: manifest as string } : {}),
    ...(command ? { command: command as string } : {}),
    timeoutSeconds: (timeoutSeconds as number | undefined) ?? DEFAULT_SMOKE_TIMEOUT_SECONDS,
  }
}

/** A hint for the common case of a cluster without a pod network. */
export function networkHint(config: ClusterConfig, problems: Problems): string | undefined {
  if (config.network.plugin !== 'none') return undefined
  const mentionsNetwork = [...problems.nodes, ...problems.pods].some((line) => /network|cni/i.test(line))
  return mentionsNetwork
    ? 'network.plugin is none: nodes stay NotReady until a CNI is installed (through addons, or after kk-action with --skip smoke-test)'
    : undefined
}
