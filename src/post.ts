import { uploadLogsInPostStep } from './report/actions.js'

/**
 * The post step (post-if: always): runs after the job's steps, also when the deploy failed or was
 * cancelled. Log upload and ephemeral cleanup hook in here; the plan command leaves nothing to do.
 */
async function run(): Promise<void> {
  // Deployment logs (report/): uploads the logs-dir the main step recorded, if any; failures are warnings only.
  await uploadLogsInPostStep()
}

await run()
