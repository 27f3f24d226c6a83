import * as core from '@actions/core'
import { cleanupEphemeral, EPHEMERAL_CLEANUP_STATE } from './ephemeral-cleanup.js'
import { uploadLogsInPostStep } from './report/actions.js'
import { actionsConsoleSink } from './report/actions-console.js'

/**
 * The post step (post-if: always): runs after the job's steps, also when the deploy failed or was
 * cancelled. It uploads the deployment logs, then (nodes: ephemeral with cleanup: true) resets the runner.
 * Neither fails the job: a problem is an annotation.
 */
async function run(): Promise<void> {
  await uploadLogsInPostStep()
  const saved = core.getState(EPHEMERAL_CLEANUP_STATE)
  if (!saved) return
  try {
    await core.group('kk-action: reset the runner (cleanup: true)', () => cleanupEphemeral({
      ...JSON.parse(saved),
      logger: { info: core.info, notice: core.notice, warning: core.warning, debug: core.debug },
      events: actionsConsoleSink(),
    }))
  } catch (error) {
    core.error(`the runner could not be reset: ${error instanceof Error ? error.message : String(error)}`, { title: 'kk-action cleanup' })
  }
}

await run()
