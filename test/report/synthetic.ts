import type { PipelineEvent } from '../../src/pipeline/events.js'
import type { Plan } from '../../src/plan/types.js'

/** Hosts whose names try to escape the logs directory or break a table. */
export const HOSTILE_HOSTS = ['node1', '../../escape', 'a/b|c', '.']

export const SECRETS = {
  password: 'Pa55-word-in-config',
  envSecret: 'env-substituted-Secret-42',
  joinToken: 'q1w2e3.r4t5y6u7i8o9p0a1',
}

export function samplePlan(hosts = HOSTILE_HOSTS): Plan {
  return {
    pipeline: 'create',
    kubernetesVersion: 'v1.30.14',
    containerManager: 'containerd',
    hosts: hosts.map((name, i) => ({ name, address: `10.0.0.${i + 2}`, arch: 'amd64', roles: ['worker'] })),
    modules: [
      { id: 'precheck', skip: false, hosts, needs: [] },
      { id: 'containerd', skip: false, hosts, needs: [] },
      { id: 'cri-dockerd', skip: true, reason: 'kubernetes.containerManager is containerd', hosts, needs: [] },
      { id: 'etcd', skip: false, hosts: [hosts[0]], needs: [] },
    ],
    artifacts: [],
    images: { sandbox: 'registry.k8s.io/pause:3.9' },
  }
}

/**
 * A deploy as the runner reports it: precheck passes everywhere; containerd fails on the second host
 * after a retry, with secrets in its output and in a command; etcd never starts.
 */
export function failingRun(hosts = HOSTILE_HOSTS, start = Date.parse('2026-11-27T00:00:00.000Z')): PipelineEvent[] {
  let clock = start
  const at = (ms = 10) => new Date((clock += ms)).toISOString()
  const events: PipelineEvent[] = []
  const push = (event: Record<string, unknown>) => events.push({ time: at(), ...event } as PipelineEvent)
  const [first, second] = hosts
  push({ type: 'module-start', module: 'precheck', hosts })
  for (const host of hosts) {
    push({ type: 'task-start', module: 'precheck', task: 'check sudo', host, attempt: 1 })
    push({ type: 'output', module: 'precheck', task: 'check sudo', host, stream: 'stdout', line: `ok on ${host}` })
    push({ type: 'command', module: 'precheck', task: 'check sudo', host, command: 'sudo -n true', exitCode: 0, durationMs: 5 })
    push({ type: 'task-end', module: 'precheck', task: 'check sudo', host, status: 'unchanged', durationMs: 8, attempt: 1 })
  }
  push({ type: 'module-end', module: 'precheck', status: 'ok', durationMs: 120, changed: 0 })
  push({ type: 'module-start', module: 'containerd', hosts })
  push({ type: 'task-start', module: 'containerd', task: 'install containerd', host: first, attempt: 1 })
  push({ type: 'log', module: 'containerd', task: 'install containerd', host: first, line: `using password ${SECRETS.password}` })
  push({ type: 'output', module: 'containerd', task: 'install containerd', host: first, stream: 'stdout', line: 'installed' })
  push({ type: 'command', module: 'containerd', task: 'install containerd', host: first, command: `install -m 0755 containerd /usr/local/bin/containerd`, exitCode: 0, durationMs: 30 })
  push({ type: 'task-end', module: 'containerd', task: 'install containerd', host: first, status: 'changed', durationMs: 40, attempt: 1 })
  for (const attempt of [1, 2]) {
    push({ type: 'task-start', module: 'containerd', task: 'install containerd', host: second, attempt })
    push({ type: 'output', module: 'containerd', task: 'install containerd', host: second, stream: 'stderr', line: `auth with ${SECRETS.envSecret} failed (attempt ${attempt})` })
    push({ type: 'output', module: 'containerd', task: 'install containerd', host: second, stream: 'stdout', line: `kubeadm join 10.0.0.2:6443 --token ${SECRETS.joinToken}` })
    push({ type: 'command', module: 'containerd', task: 'install containerd', host: second, command: `echo ${SECRETS.password} | systemctl restart containerd`, exitCode: 1, durationMs: 25 })
    push({ type: 'task-end', module: 'containerd', task: 'install containerd', host: second, status: 'failed', durationMs: 30, attempt, error: `exit code 1: systemctl restart containerd\nauth with ${SECRETS.envSecret} failed` })
  }
  push({ type: 'module-end', module: 'containerd', status: 'failed', durationMs: 200, changed: 1 })
  return events
}
