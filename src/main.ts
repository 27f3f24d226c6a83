import * as core from '@actions/core'
import { isUserError } from './errors.js'
import { PipelineError } from './pipeline/errors.js'
import { preparePlan } from './core.js'
import { deploy, diagnoseFailingHosts } from './deploy.js'
import { SHARED_KUBECONFIG_PATH } from './pipeline/types.js'
import { EPHEMERAL_CLEANUP_STATE } from './ephemeral-cleanup.js'
import type { Logger } from './log.js'
import { formatPlanMarkdown } from './plan/format.js'
import { readInputs, knownHostsFile, type ActionInputs } from './inputs.js'
import { finishActionReport, startActionReport, type ActionReport } from './report/actions.js'
import { Redactor } from './report/redact.js'
import { artifactReports, type ArtifactReport } from './report/summary.js'

const actionsLogger: Logger = {
  info: (message) => core.info(message),
  notice: (message) => core.notice(message),
  warning: (message) => core.warning(message),
  debug: (message) => core.debug(message),
}

function planRequest(inputs: ActionInputs) {
  return {
    configFile: inputs.config,
    pipeline: inputs.command === 'delete' ? ('delete' as const) : ('create' as const),
    overrides: inputs.overrides,
    checksumsFile: inputs.checksums,
    mirror: inputs.mirror,
    ephemeral: inputs.nodes === 'ephemeral',
    logger: actionsLogger,
  }
}

async function planCommand(inputs: ActionInputs): Promise<void> {
  const prepared = await preparePlan({ ...planRequest(inputs), preview: true })
  for (const secret of prepared.loaded.secrets) core.setSecret(secret)
  core.setOutput('plan', JSON.stringify(prepared.plan))
  core.setOutput('kubernetes-version', prepared.plan.kubernetesVersion)
  await core.summary.addRaw(formatPlanMarkdown(prepared.plan)).write()
}

/** deploy or delete: the pipeline with the logs directory, live groups, diagnostics on failure and the job summary. */
async function pipelineCommand(inputs: ActionInputs, redactor: Redactor): Promise<void> {
  // Saved before the deploy starts, so a failed or cancelled ephemeral deploy is still reset by the post step.
  if (inputs.command === 'deploy' && inputs.nodes === 'ephemeral' && inputs.cleanup) {
    core.saveState(EPHEMERAL_CLEANUP_STATE, JSON.stringify({ configFile: inputs.config, overrides: inputs.overrides, checksumsFile: inputs.checksums }))
  }
  const controller = new AbortController()
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort(signal))
  let report: ActionReport | undefined
  let artifacts: ArtifactReport[] | undefined
  let failure: unknown
  try {
    const { result } = await deploy({
      ...planRequest(inputs),
      nodes: inputs.nodes,
      connect: {
        hostKeyPolicy: inputs.nodes === 'ephemeral' ? 'off' : inputs.hostKeyPolicy,
        knownHostsPath: knownHostsFile(inputs),
        privateKey: inputs.sshPrivateKey,
        sshPassword: inputs.sshPassword,
      },
      offlineDir: inputs.offlineDir,
      useCache: inputs.cache,
      concurrency: inputs.concurrency,
      signal: controller.signal,
      // The redactor masks it in every file the report writes, and (startActionReport) in the runner's log.
      onSecret: (value) => redactor.add(value),
      events: { emit: (event) => report?.events.emit(event) },
      onPlan: ({ plan, loaded }) => {
        redactor.addAll(loaded.secrets)
        report = startActionReport(plan, redactor)
        core.setOutput('plan', JSON.stringify(plan))
        core.setOutput('kubernetes-version', plan.kubernetesVersion)
      },
      onArtifacts: (resolved) => {
        artifacts = artifactReports(resolved)
        core.setOutput('cache-hit', String(resolved.length > 0 && resolved.every((r) => r.source === 'tool-cache' || r.source === 'actions-cache')))
      },
      onFailure: (_hosts, connectionOf) => diagnoseFailingHosts(report?.report, connectionOf),
    })
    const kubeconfig = result.shared.get(SHARED_KUBECONFIG_PATH)
    if (typeof kubeconfig === 'string') core.setOutput('kubeconfig', kubeconfig)
  } catch (error) {
    failure = error
    throw error
  } finally {
    if (report) await finishActionReport(report.report, { error: failure, artifacts })
  }
}

async function run(): Promise<void> {
  const redactor = new Redactor()
  try {
    const inputs = readInputs()
    for (const secret of [inputs.sshPrivateKey, inputs.sshPassword]) {
      if (secret) {
        core.setSecret(secret)
        redactor.add(secret)
      }
    }
    if (inputs.command === 'plan') await planCommand(inputs)
    else await pipelineCommand(inputs, redactor)
  } catch (error) {
    fail(error, redactor)
  }
}

function fail(error: unknown, redactor: Redactor): void {
  if (error instanceof PipelineError) {
    // Each failing host already has its annotation (report/actions-console.ts); this is the detail.
    core.info(redactor.redact(error.message))
  } else if (isUserError(error)) {
    const { file, line, column, host } = error.location
    core.error(redactor.redact(error.message), {
      title: host ? `kk-action: ${host}` : 'kk-action',
      ...(file ? { file } : {}),
      ...(line ? { startLine: line } : {}),
      ...(column ? { startColumn: column } : {}),
    })
  } else {
    const message = error instanceof Error ? error.message : String(error)
    core.error(`${redactor.redact(message)} (this looks like a bug in kk-action; please report it)`)
  }
  process.exitCode = 1
}

await run()
