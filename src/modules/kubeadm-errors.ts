/** What a failed `kubeadm init` / `kubeadm join` said, and whether trying again can change it. */
import { FinalError } from '../pipeline/errors.js'

/** Lines kubeadm prints after every failure, which say nothing about this one. */
const BOILERPLATE = [/^To see the stack trace of this error/, /^\[preflight\] If you know what you are doing/]

export interface KubeadmFailure {
  /** kubeadm's own error lines: its `[ERROR …]` lines, else its `error execution phase …` line. */
  reason: string
  /** A preflight refusal or a failed discovery: the same node and config fail the same way again. */
  final: boolean
  /** Nothing was changed on the node (preflight runs first): no reset is needed. */
  preflight: boolean
}

export function readKubeadmFailure(stderr: string, stdout: string): KubeadmFailure {
  const lines = `${stderr}\n${stdout}`.split('\n').map((line) => line.trim()).filter(Boolean)
  const errors = lines.filter((line) => /^\[ERROR [^\]]+\]/.test(line))
  const phase = lines.find((line) => /^error execution phase /.test(line))
  const discovery = lines.find((line) => /couldn't validate the identity of the API Server/.test(line))
  const reason = errors.length
    ? errors.join('; ')
    : phase ?? lines.filter((line) => !BOILERPLATE.some((pattern) => pattern.test(line))).pop() ?? 'no output'
  const preflightPhase = /^error execution phase preflight:/.test(phase ?? '')
  return { reason, final: errors.length > 0 || Boolean(discovery), preflight: preflightPhase || errors.length > 0 }
}

/**
 * The error of a failed kubeadm run on `host`. A final one is not retried: the runner reports it at once,
 * with what to do.
 */
export function kubeadmError(command: 'init' | 'join', host: string, failure: KubeadmFailure, endpoint: string, resetDone: boolean): Error {
  const what = `kubeadm ${command} failed on ${host}${resetDone ? ' (reset for the next attempt)' : ''}: ${failure.reason}`
  if (!failure.final) return new Error(what)
  const hint = /identity of the API Server/.test(failure.reason)
    ? `No apiserver answered at ${endpoint} from ${host} (it resolves through the host's /etc/hosts): check that the first control plane's apiserver runs and that controlPlaneEndpoint points at a running one. Not retried: the same endpoint fails the same way`
    : 'kubeadm\'s preflight refuses this host as it is; fix what the [ERROR] lines name (kk-action does not pass --ignore-preflight-errors). Not retried: the same check fails the same way'
  return new FinalError(what, { host }, hint)
}

/**
 * What a joining host sees at the discovery endpoint: `getent` resolves it as kubeadm would (the host's
 * /etc/hosts first), bash's /dev/tcp opens a connection. Prints the address; exit 0 reached, 1 refused,
 * 2 unresolved, anything else: the probe itself cannot run here (no bash, getent or timeout).
 */
export const ENDPOINT_PROBE = [
  'command -v bash >/dev/null && command -v getent >/dev/null && command -v timeout >/dev/null || exit 3',
  'h=${0%:*}; p=${0##*:}',
  'a=$(getent hosts "$h" | awk \'{ print $1; exit }\')',
  '[ -n "$a" ] || exit 2',
  'echo "$a"',
  'timeout 5 bash -c \'exec 3<>"/dev/tcp/$0/$1"\' "$a" "$p" 2>/dev/null || exit 1',
].join('\n')

export function unreachableEndpoint(host: string, endpoint: string, address: string | undefined, waitedS: number): FinalError {
  const where = address ? `it resolves to ${address}` : 'it does not resolve'
  return new FinalError(`no apiserver answers at ${endpoint} from ${host} (${where}; waited ${waitedS}s), so kubeadm join would wait out its discovery timeout`,
    { host }, 'The control-plane domain resolves through the host\'s /etc/hosts: check that the first control plane\'s apiserver runs, and that controlPlaneEndpoint (address, internalLoadbalancer) points at a running one')
}
