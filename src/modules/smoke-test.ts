import { readFileSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { UserError } from '../errors.js'
import { sh, type Command } from '../nodes/quote.js'
import type { PlanContext } from '../plan/types.js'
import type { Task, TaskContext } from '../pipeline/types.js'
import { ADMIN_CONF } from './kubeadm-config.js'
import { networkHint, nodeProblems, podProblems, smokeTestSettings, type Problems } from './kubeadm-health.js'
import type { ClusterConfig } from '../config/types.js'
import { defineModule, kubernetesNodes, nothingNeeded, type NodeFile } from './module.js'
import { putNodeFile } from './steps.js'
import { ADMIN_KUBECTL } from './addons-commands.js'

const POLL_MS = 5000
const MANIFEST_DIR = '/etc/kubernetes/kk-action-smoke-test'

function kubectl(args: Command): Command {
  return sh`${ADMIN_KUBECTL} --request-timeout=20s ${args}`
}

async function currentProblems(t: TaskContext, expectedNodes: string[]): Promise<Problems> {
  const nodes = await t.exec(kubectl(sh`get nodes -o json`), { timeoutMs: 60_000 })
  const pods = await t.exec(kubectl(sh`get pods -n kube-system -o json`), { timeoutMs: 60_000 })
  return { nodes: nodeProblems(nodes.stdout, expectedNodes), pods: podProblems(pods.stdout) }
}

/** Polls until every node is Ready and kube-system runs, or says what is still wrong when time is up. */
async function clusterReady(ctx: PlanContext, t: TaskContext): Promise<void> {
  const { timeoutSeconds } = smokeTestSettings(t.config)
  const expected = kubernetesNodes(ctx).map((host) => host.name)
  const deadline = Date.now() + timeoutSeconds * 1000
  for (;;) {
    const problems = await currentProblems(t, expected)
    if (!problems.nodes.length && !problems.pods.length) {
      t.log(`${expected.length} node(s) Ready, kube-system pods running`)
      return
    }
    if (Date.now() >= deadline) throw notReadyError(ctx, problems, timeoutSeconds)
    await new Promise((done) => setTimeout(done, POLL_MS))
  }
}

function notReadyError(ctx: PlanContext, problems: Problems, timeoutSeconds: number): UserError {
  const lines = [...problems.nodes, ...problems.pods]
  const hint = networkHint(ctx.config, problems)
  return new UserError(`the cluster is not ready after ${timeoutSeconds}s:\n  ${lines.join('\n  ')}`, {},
    hint ?? 'Look at the named nodes (journalctl -u kubelet) and pods (kubectl describe); raise spec.smokeTest.timeoutSeconds for slow machines')
}

/** The objects of the user's manifest whose readiness kubectl can wait for, as `kubectl` arguments. */
export function waitCommands(manifest: string, timeoutSeconds: number): string[][] {
  const waits: string[][] = []
  for (const document of parseAllDocuments(manifest)) {
    const object = document.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null
    const name = object?.metadata?.name
    if (!object?.kind || !name) continue
    const namespace = ['-n', object.metadata?.namespace ?? 'default']
    const timeout = `--timeout=${timeoutSeconds}s`
    const kind = object.kind.toLowerCase()
    if (['deployment', 'daemonset', 'statefulset'].includes(kind)) waits.push(['rollout', 'status', `${kind}/${name}`, ...namespace, timeout])
    else if (kind === 'pod') waits.push(['wait', '--for=condition=Ready', `pod/${name}`, ...namespace, timeout])
    else if (kind === 'job') waits.push(['wait', '--for=condition=complete', `job/${name}`, ...namespace, timeout])
  }
  return waits
}

/** spec.smokeTest.manifest: applied from the first control plane, then its workloads awaited. */
/** spec.smokeTest.manifest, read on the runner, as the node gets it; undefined when none is set. */
export function smokeManifestFile(config: ClusterConfig): NodeFile | undefined {
  const { manifest } = smokeTestSettings(config)
  if (!manifest) return undefined
  const local = resolve(dirname(config.file), manifest)
  let content: string
  try {
    content = readFileSync(local, 'utf8')
  } catch (error) {
    throw new UserError(`spec.smokeTest.manifest ${local} cannot be read: ${(error as Error).message}`,
      { file: config.file, field: 'spec.smokeTest.manifest' }, 'Give a path relative to the cluster config file')
  }
  return { path: `${MANIFEST_DIR}/${basename(local)}`, mode: 0o644, content }
}

async function userManifest(t: TaskContext): Promise<void> {
  const { timeoutSeconds } = smokeTestSettings(t.config)
  const file = smokeManifestFile(t.config)
  if (!file) return
  await putNodeFile(t, file)
  await t.exec(kubectl(sh`apply -f ${file.path}`), { timeoutMs: 120_000 })
  for (const args of waitCommands(file.content, timeoutSeconds)) await t.exec(kubectl(sh`${args}`), { timeoutMs: (timeoutSeconds + 30) * 1000 })
}

/** spec.smokeTest.command: the user's own shell command, on the first control plane, talking to the cluster. */
async function userCommand(t: TaskContext): Promise<void> {
  const { command, timeoutSeconds } = smokeTestSettings(t.config)
  if (!command) return
  const result = await t.exec(sh`env KUBECONFIG=${ADMIN_CONF} sh -c ${command}`, { allowFailure: true, timeoutMs: timeoutSeconds * 1000 })
  if (result.code !== 0) {
    throw new UserError(`spec.smokeTest.command failed with exit code ${result.code}: ${(result.stderr || result.stdout).trim().split('\n').pop() ?? ''}`,
      { file: t.config.file, field: 'spec.smokeTest.command' }, 'The command runs on the first control plane with KUBECONFIG=/etc/kubernetes/admin.conf')
  }
}

function smokeTasks(ctx: PlanContext): Task[] {
  // The runner's own timeout is a backstop; clusterReady reports what is not ready before it.
  const backstop = (smokeTestSettings(ctx.config).timeoutSeconds + 120) * 1000
  return [
    { name: 'nodes Ready, kube-system running', timeoutMs: backstop, run: (t) => clusterReady(ctx, t) },
    { name: 'user manifest', timeoutMs: 2 * backstop, run: userManifest },
    { name: 'user command', timeoutMs: backstop, run: userCommand },
  ]
}

/** Every node Ready and kube-system Running within a timeout; then the user's own manifest and command. */
export const smokeTest = defineModule({
  id: 'smoke-test',
  hosts: (ctx) => [ctx.firstControlPlane],
  skip: (ctx) => {
    smokeTestSettings(ctx.config) // a bad spec.smokeTest is a plan error, before any node is touched
    return undefined
  },
  needs: nothingNeeded,
  tasks: smokeTasks,
  files: ({ config }) => {
    const manifest = smokeManifestFile(config)
    return manifest ? [manifest] : []
  },
})
