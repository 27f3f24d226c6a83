import * as core from '@actions/core'
import { isUserError } from './errors.js'
import { preparePlan } from './core.js'
import type { Logger } from './log.js'
import { formatPlanMarkdown } from './plan/format.js'
import { readInputs, type ActionInputs } from './inputs.js'

const actionsLogger: Logger = {
  info: (message) => core.info(message),
  notice: (message) => core.notice(message),
  warning: (message) => core.warning(message),
  debug: (message) => core.debug(message),
}

async function plan(inputs: ActionInputs): Promise<void> {
  const prepared = await preparePlan({
    configFile: inputs.config,
    pipeline: inputs.command === 'delete' ? 'delete' : 'create',
    overrides: inputs.overrides,
    checksumsFile: inputs.checksums,
    mirror: inputs.mirror,
    logger: actionsLogger,
  })
  for (const secret of prepared.loaded.secrets) core.setSecret(secret)
  core.setOutput('plan', JSON.stringify(prepared.plan))
  core.setOutput('kubernetes-version', prepared.plan.kubernetesVersion)
  await core.summary.addRaw(formatPlanMarkdown(prepared.plan)).write()
}

async function run(): Promise<void> {
  try {
    const inputs = readInputs()
    for (const secret of [inputs.sshPrivateKey, inputs.sshPassword]) if (secret) core.setSecret(secret)
    await plan(inputs)
    if (inputs.command !== 'plan') {
      throw new Error(`command "${inputs.command}" is not implemented in this version of kk-action yet; use command: plan`)
    }
  } catch (error) {
    fail(error)
  }
}

function fail(error: unknown): void {
  if (isUserError(error)) {
    const { file, line, column, host } = error.location
    core.error(error.message, {
      title: host ? `kk-action: ${host}` : 'kk-action',
      ...(file ? { file } : {}),
      ...(line ? { startLine: line } : {}),
      ...(column ? { startColumn: column } : {}),
    })
  } else {
    core.error(`${error instanceof Error ? error.message : String(error)} (this looks like a bug in kk-action; please report it)`)
  }
  process.exitCode = 1
}

await run()
