import { parseArgs, type ParseArgsConfig } from 'node:util'
import { isUserError } from './errors.js'
import { stderrLogger, type Logger } from './log.js'
import { preparePlan, type PlanRequest } from './core.js'
import { formatPlanTable } from './plan/format.js'

const USAGE = `usage:
  kk-action plan   -f cluster.yaml [--json] [--kubernetes-version v] [--container-manager m] [--network-plugin p]
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
  const { plan } = await preparePlan(planRequest(values, logger))
  process.stdout.write(values.json ? `${JSON.stringify(plan, null, 2)}\n` : `${formatPlanTable(plan)}\n`)
}

const COMMANDS: Record<string, (values: Values, logger: Logger) => Promise<void>> = {
  plan: planCommand,
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
