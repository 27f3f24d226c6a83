import { parseArgs, type ParseArgsConfig } from 'node:util'
import { isUserError, UserError } from './errors.js'
import { stderrLogger, type Logger } from './log.js'
import { preparePlan, type PlanRequest } from './core.js'
import { formatPlanTable } from './plan/format.js'
import { deploy, defaultArtifactsDir, diagnoseFailingHosts } from './deploy.js'
import { fetchBundle, writeBundleChecksums } from './artifacts/resolve.js'
import { HOST_KEY_POLICIES, type HostKeyPolicy } from './nodes/hostkeys.js'
import { fanOut } from './pipeline/events.js'
import { SHARED_KUBECONFIG_PATH } from './pipeline/types.js'
import { cliConsoleSink } from './report/console.js'
import { DeploymentReport } from './report/report.js'
import { Redactor } from './report/redact.js'
import { readFileSync } from 'node:fs'
import { hostArtifacts, RENDER_INDEX, renderFiles, writeRendered } from './render.js'

const USAGE = `usage:
  kk-action plan   -f cluster.yaml [--json] [--kubernetes-version v] [--container-manager m] [--network-plugin p]
                   [--checksums FILE] [--mirror URL] [--skip MODULE]... [--until MODULE]
  kk-action render -f cluster.yaml --dest DIR [--kubernetes-version v] [--container-manager m] [--network-plugin p]
                   [--checksums FILE] [--mirror URL] [--skip MODULE]... [--until MODULE]
  kk-action fetch  -f cluster.yaml --dest DIR [--mirror URL] [--checksums FILE] [--offline-dir DIR]
  kk-action deploy -f cluster.yaml [--logs DIR] [--known-hosts FILE] [--mirror URL] [--skip MODULE]... [--until MODULE]
  kk-action delete -f cluster.yaml

exit codes: 0 success, 1 a problem with the config, nodes or artifacts (one message), 2 bad usage`

const OPTIONS = {
  file: { type: 'string', short: 'f' },
  json: { type: 'boolean' },
  'kubernetes-version': { type: 'string' },
  'container-manager': { type: 'string' },
  'network-plugin': { type: 'string' },
  checksums: { type: 'string' },
  mirror: { type: 'string' },
  'offline-dir': { type: 'string' },
  dest: { type: 'string' },
  skip: { type: 'string', multiple: true },
  until: { type: 'string' },
  logs: { type: 'string' },
  'known-hosts': { type: 'string' },
  'host-key-policy': { type: 'string' },
  'ssh-private-key': { type: 'string' },
  concurrency: { type: 'string' },
  kubeconfig: { type: 'string' },
  nodes: { type: 'string' },
  'artifacts-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options']

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values']

class UsageError extends Error {}

function planRequest(values: Values, logger: Logger, pipeline: PlanRequest['pipeline'] = 'create'): PlanRequest {
  if (!values.file) throw new UsageError('-f/--file is required')
  return {
    configFile: values.file,
    pipeline,
    overrides: {
      kubernetesVersion: values['kubernetes-version'],
      containerManager: values['container-manager'],
      networkPlugin: values['network-plugin'],
    },
    checksumsFile: values.checksums,
    mirror: values.mirror,
    skipModules: values.skip,
    until: values.until,
    logger,
  }
}

async function planCommand(values: Values, logger: Logger): Promise<void> {
  const { plan } = await preparePlan({ ...planRequest(values, logger), preview: true })
  process.stdout.write(values.json ? `${JSON.stringify(plan, null, 2)}\n` : `${formatPlanTable(plan)}\n`)
}

async function fetchCommand(values: Values, logger: Logger): Promise<void> {
  if (!values.dest) throw new UsageError('--dest DIR is required')
  const { plan } = await preparePlan(planRequest(values, logger))
  const resolved = await fetchBundle(plan.artifacts, values.dest, {
    mirror: values.mirror, offlineDir: values['offline-dir'], useCache: false, log: logger,
  })
  const bytes = resolved.reduce((sum, r) => sum + r.bytes, 0)
  logger.info(`${resolved.length} artifact(s), ${(bytes / 1048576).toFixed(1)} MiB in ${values.dest}: use it as offline-dir`)
  const sums = writeBundleChecksums(plan.artifacts, values.dest)
  logger.info(`${sums}: the sums kk-action's catalog lacks (read from their publishers now); give it as checksums on the air-gapped side`)
}

/** The files deploy would write on each host, under DIR/<host>/<path>, without contacting any host. */
async function renderCommand(values: Values, logger: Logger): Promise<void> {
  if (!values.dest) throw new UsageError('--dest DIR is required')
  const { plan, loaded } = await preparePlan({ ...planRequest(values, logger), preview: true })
  const summary = writeRendered(renderFiles(plan, loaded.config), values.dest, loaded.secrets, hostArtifacts(plan))
  for (const file of summary.masked) logger.warning(`${file}: a secret from the config is shown as a placeholder`)
  logger.info(`${summary.files} file(s) for ${summary.hosts} host(s) in ${values.dest} (index: ${RENDER_INDEX})`)
}

function choice<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`)
  return value as T
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const number = Number(value)
  if (!Number.isInteger(number) || number < 1) throw new UsageError(`--${name} must be a whole number of 1 or more`)
  return number
}

function connectOptions(values: Values, redactor: Redactor) {
  const privateKey = values['ssh-private-key'] ? readKeyFile(values['ssh-private-key']) : undefined
  redactor.add(privateKey)
  return {
    hostKeyPolicy: choice<HostKeyPolicy>('host-key-policy', values['host-key-policy'], HOST_KEY_POLICIES, 'strict'),
    knownHostsPath: values['known-hosts'],
    privateKey,
  }
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new UserError(`cannot read the private key file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { file: path }, 'Check the --ssh-private-key path')
  }
}

function pipelineCommand(pipeline: 'create' | 'delete') {
  return async (values: Values, logger: Logger): Promise<void> => {
    const controller = new AbortController()
    const cancel = (signal: NodeJS.Signals) => controller.abort(signal)
    process.once('SIGINT', cancel).once('SIGTERM', cancel)
    const redactor = new Redactor()
    const consoleSink = cliConsoleSink(process.stderr, Boolean(process.stderr.isTTY), redactor)
    let report: DeploymentReport | undefined
    let failure: unknown
    try {
      const { result } = await deploy({
        ...planRequest(values, logger, pipeline),
        nodes: choice('nodes', values.nodes, ['target', 'ephemeral'] as const, 'target'),
        connect: connectOptions(values, redactor),
        artifactsDir: values['artifacts-dir'] ?? defaultArtifactsDir(),
        offlineDir: values['offline-dir'],
        useCache: false,
        concurrency: positive('concurrency', values.concurrency, 10),
        events: fanOut(consoleSink, { emit: (event) => report?.emit(event) }),
        signal: controller.signal,
        onSecret: (value) => redactor.add(value),
        kubeconfigPath: values.kubeconfig,
        onPlan: ({ plan, loaded }) => {
          redactor.addAll(loaded.secrets)
          if (values.logs) report = DeploymentReport.open({ dir: values.logs, plan, redactor })
        },
        onFailure: (_hosts, connectionOf) => diagnoseFailingHosts(report, connectionOf),
      })
      const kubeconfig = result.shared.get(SHARED_KUBECONFIG_PATH)
      if (typeof kubeconfig === 'string') logger.info(`kubeconfig: ${kubeconfig}`)
      logger.info(`${pipeline === 'create' ? 'deploy' : 'delete'} finished: ${result.changed} change(s), ${result.uploadedBytes} byte(s) uploaded`)
    } catch (error) {
      failure = error
      throw error
    } finally {
      consoleSink.close()
      report?.finish({ error: failure })
      if (report) logger.info(`logs: ${values.logs}`)
    }
  }
}

const COMMANDS: Record<string, (values: Values, logger: Logger) => Promise<void>> = {
  plan: planCommand,
  fetch: fetchCommand,
  render: renderCommand,
  deploy: pipelineCommand('create'),
  delete: pipelineCommand('delete'),
}

export async function main(argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (error) {
    process.stderr.write(`kk-action: ${(error as Error).message}\n${USAGE}\n`)
    return 2
  }
  const [command, ...extra] = parsed.positionals
  if (parsed.values.help || !command) {
    process.stdout.write(`${USAGE}\n`)
    return parsed.values.help ? 0 : 2
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
  if (!run || extra.length) {
    process.stderr.write(`kk-action: ${run ? `unexpected argument "${extra[0]}"` : `unknown command "${command}"`}\n${USAGE}\n`)
    return 2
  }
  const logger = stderrLogger(process.stderr, process.env.KK_DEBUG === '1')
  try {
    await run(parsed.values, logger)
    return 0
  } catch (error) {
    return reportFailure(error)
  }
}

function reportFailure(error: unknown): number {
  if (error instanceof UsageError) {
    process.stderr.write(`kk-action: ${error.message}\n${USAGE}\n`)
    return 2
  }
  if (isUserError(error)) {
    process.stderr.write(`error: ${error.message}\n`)
    return 1
  }
  // Anything else is a bug in kk-action: say so in one line; the stack only on request.
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`error: ${message}\n(this looks like a bug in kk-action; rerun with KK_DEBUG=1 for details and report it)\n`)
  if (process.env.KK_DEBUG === '1' && error instanceof Error) process.stderr.write(`${error.stack}\n`)
  return 1
}

process.exitCode = await main(process.argv.slice(2))
