import * as core from '@actions/core'

/**
 * The post step (post-if: always): runs after the job's steps, also when the deploy failed or was
 * cancelled. Log upload and ephemeral cleanup hook in here; the plan command leaves nothing to do.
 */
async function run(): Promise<void> {
  const logsDir = core.getState('logs-dir')
  if (!logsDir) core.debug('kk-action post: no logs directory was recorded; nothing to upload')
}

await run()
