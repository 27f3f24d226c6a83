import { setTimeout as sleep } from 'node:timers/promises'
import type { Addon, ClusterConfig } from '../config/types.js'
import { sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { addonSteps } from './addons-commands.js'
import { installHelm } from './helm.js'
import { defineModule, type NodeFile } from './module.js'
import { putNodeFile } from './steps.js'

// When an addon gives no retries/delay: one attempt; a delay of 5 s when only retries is set.
const DEFAULT_RETRIES = 0
const DEFAULT_DELAY_SECONDS = 5

/** KubeKey's `addons`: helm charts and YAML manifests, applied from the first control plane. */
export const addons = defineModule({
  id: 'addons',
  hosts: (ctx) => [ctx.firstControlPlane],
  skip: ({ config }) => (config.addons.length > 0 ? undefined : 'addons is empty'),
  needs: ({ config }) => (config.addons.some((addon) => addon.sources.chart) ? ['helm'] : []),
  tasks: ({ config }) => [
    ...(config.addons.some((addon) => addon.sources.chart)
      ? [{ name: 'install helm', retries: 2, timeoutMs: 5 * 60_000, run: installHelm }]
      : []),
    // Each addon retries by its own retries/delay, so the task itself does not.
    ...config.addons.map((addon) => ({ name: `addon ${addon.name}`, timeoutMs: addonTimeoutMs(addon), run: (t: TaskContext) => applyAddon(t, addon) })),
  ],
  files: ({ config }) => config.addons.flatMap((addon) => addonFiles(config, addon)),
})

/** The runner's files an addon's commands read on the node (values file, packaged chart, manifests), sent as they are. */
export function addonFiles(config: ClusterConfig, addon: Addon): NodeFile[] {
  return addonSteps(config, addon).files.map((file) => ({ path: file.remote, mode: 0o600, content: '', source: file.local }))
}

function addonTimeoutMs(addon: Addon): number {
  const attempts = 1 + (addon.retries ?? DEFAULT_RETRIES)
  return attempts * (10 * 60_000 + (addon.delay ?? DEFAULT_DELAY_SECONDS) * 1000)
}

async function applyAddon(t: TaskContext, addon: Addon): Promise<void> {
  const steps = addonSteps(t.config, addon)
  for (const file of addonFiles(t.config, addon)) {
    await t.exec(sh`mkdir -p -- ${file.path.slice(0, file.path.lastIndexOf('/'))}`)
    await putNodeFile(t, file)
  }
  const retries = addon.retries ?? DEFAULT_RETRIES
  for (let attempt = 0; ; attempt++) {
    try {
      for (const command of steps.commands) await t.exec(command)
      t.changed()
      return
    } catch (error) {
      if (attempt >= retries) throw error
      t.log(`addon ${addon.name} failed (attempt ${attempt + 1} of ${retries + 1}), retrying in ${addon.delay ?? DEFAULT_DELAY_SECONDS}s: ${(error as Error).message}`)
      await sleep((addon.delay ?? DEFAULT_DELAY_SECONDS) * 1000)
    }
  }
}
