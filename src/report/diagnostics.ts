/**
 * What a person debugging a failed host looks at first, collected into hosts/<host>/diagnostics.log:
 * service states and journals, containers, the cluster's view when its API answers, kernel messages,
 * disk and memory, and the configs the action wrote. Best effort: every command has a short timeout,
 * the whole has a budget, and nothing here throws (the deploy's own error is what the user must see).
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Connection } from '../nodes/connection.js'
import { sh, type Command } from '../nodes/quote.js'
import type { Redactor } from './redact.js'
import { safeFileName } from './safe-name.js'

export interface DiagnosticsOptions {
  /** Per command (default 10 s). */
  commandTimeoutMs?: number
  /** For all commands of one host (default 90 s); what is left is listed as skipped. */
  budgetMs?: number
  /** Journal and dmesg lines per source (default 200). */
  lines?: number
  /** At most this many not-ready pods are described (default 10). */
  maxDescribedPods?: number
}

const UNITS = ['kubelet', 'containerd', 'docker', 'cri-docker', 'etcd']
const KUBECONFIG = '/etc/kubernetes/admin.conf'
const WRITTEN_CONFIGS = [
  '/etc/containerd/config.toml',
  '/etc/docker/daemon.json',
  '/etc/crictl.yaml',
  '/etc/kubernetes/kubeadm-config.yaml',
  '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf',
  '/etc/etcd.env',
]

interface Probe {
  title: string
  command: Command
}

/** Collects diagnostics of one host into `<logsDir>/hosts/<host>/diagnostics.log`; returns that path. */
export async function collectDiagnostics(
  connection: Connection, host: string, logsDir: string, redactor: Redactor, options: DiagnosticsOptions = {},
): Promise<string> {
  const file = join(logsDir, 'hosts', safeFileName(host), 'diagnostics.log')
  const session = new DiagnosticsSession(connection, file, redactor, options)
  try {
    mkdirSync(join(file, '..'), { recursive: true })
    session.write(`# diagnostics of ${host}, collected ${new Date().toISOString()} after the deploy failed\n`)
    await session.runAll(baseProbes(options.lines ?? 200))
    await session.clusterView(options.maxDescribedPods ?? 10)
    await session.runAll(WRITTEN_CONFIGS.map((path) => ({ title: `config ${path}`, command: catIfPresent(path) })))
  } catch (error) {
    session.note(`diagnostics stopped: ${error instanceof Error ? error.message : String(error)}`)
  }
  return file
}

function baseProbes(lines: number): Probe[] {
  return [
    { title: 'service states', command: sh`systemctl status --no-pager --full --lines=0 ${UNITS} 2>&1` },
    { title: 'failed units', command: sh`systemctl list-units --failed --no-pager 2>&1` },
    ...UNITS.map((unit) => ({ title: `journal of ${unit}`, command: sh`journalctl --no-pager -o short-iso -n ${lines} -u ${unit} 2>&1` })),
    { title: 'CRI containers', command: sh`crictl --timeout 5s ps -a 2>&1` },
    { title: 'docker containers', command: sh`docker ps -a 2>&1` },
    { title: 'kernel messages', command: sh`dmesg -T 2>&1 | tail -n ${lines}` },
    { title: 'disk', command: sh`df -h 2>&1` },
    { title: 'memory', command: sh`free -m 2>&1` },
  ]
}

function catIfPresent(path: string): Command {
  return sh`if test -e ${path}; then cat ${path}; else echo '(not present)'; fi 2>&1`
}

function kubectl(args: Command): Command {
  return sh`kubectl --kubeconfig ${KUBECONFIG} --request-timeout=5s ${args} 2>&1`
}

class DiagnosticsSession {
  private readonly started = Date.now()
  private readonly commandTimeoutMs: number
  private readonly budgetMs: number

  constructor(
    private readonly connection: Connection,
    private readonly file: string,
    private readonly redactor: Redactor,
    options: DiagnosticsOptions,
  ) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? 10_000
    this.budgetMs = options.budgetMs ?? 90_000
  }

  write(text: string): void {
    appendFileSync(this.file, this.redactor.redact(text), { mode: 0o600 })
  }

  note(text: string): void {
    this.write(`(${text})\n`)
  }

  async runAll(probes: Probe[]): Promise<void> {
    for (const probe of probes) await this.run(probe)
  }

  /** Runs a probe and writes it; the output, or undefined when it could not run. */
  async run(probe: Probe): Promise<{ code: number; stdout: string } | undefined> {
    this.write(`\n## ${probe.title}\n$ ${probe.command.text}\n`)
    if (Date.now() - this.started > this.budgetMs) {
      this.note(`skipped: the ${Math.round(this.budgetMs / 1000)} s budget for diagnostics is used up`)
      return undefined
    }
    const started = Date.now()
    try {
      const result = await this.connection.exec(probe.command, { sudo: true, timeoutMs: this.commandTimeoutMs })
      const output = result.stdout + result.stderr
      this.write(`${output}${output.endsWith('\n') || !output ? '' : '\n'}(exit ${result.code}, ${((Date.now() - started) / 1000).toFixed(2)} s)\n`)
      return { code: result.code, stdout: result.stdout }
    } catch (error) {
      this.note(`could not run: ${error instanceof Error ? error.message : String(error)}`)
      return undefined
    }
  }

  /** Nodes and pods, and a describe of every pod that is not ready, when this host has a control plane that answers. */
  async clusterView(maxDescribed: number): Promise<void> {
    const api = await this.run({ title: 'API server readiness', command: sh`test -f ${KUBECONFIG} && ${kubectl(sh`get --raw=/readyz`)}` })
    if (api?.code !== 0) {
      this.note('no control plane answers on this host: cluster state not collected')
      return
    }
    await this.run({ title: 'nodes and pods', command: kubectl(sh`get nodes,pods -A -o wide`) })
    const listed = await this.run({
      title: 'pod readiness',
      command: kubectl(sh`get pods -A --no-headers -o ${'custom-columns=NS:.metadata.namespace,NAME:.metadata.name,PHASE:.status.phase,READY:.status.containerStatuses[*].ready'}`),
    })
    const notReady = listed?.code === 0 ? notReadyPods(listed.stdout) : []
    for (const pod of notReady.slice(0, maxDescribed)) {
      await this.run({ title: `pod ${pod.namespace}/${pod.name}`, command: kubectl(sh`describe pod -n ${pod.namespace} ${pod.name}`) })
    }
    if (notReady.length > maxDescribed) this.note(`${notReady.length - maxDescribed} more pod(s) not ready, not described`)
  }
}

/** Pods from `NS NAME PHASE READY` lines that are neither finished nor ready in every container. */
export function notReadyPods(listing: string): Array<{ namespace: string; name: string }> {
  return listing.split('\n').flatMap((line) => {
    const [namespace, name, phase, ready] = line.trim().split(/\s+/)
    if (!namespace || !name || phase === 'Succeeded') return []
    const allReady = phase === 'Running' && !!ready && ready.split(',').every((flag) => flag === 'true')
    return allReady ? [] : [{ namespace, name }]
  })
}
