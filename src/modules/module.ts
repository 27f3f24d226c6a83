import type { Host } from '../config/types.js'
import type { ArtifactName } from '../artifacts/types.js'
import type { ModuleId, PlanContext } from '../plan/types.js'
import type { Task } from '../pipeline/types.js'

/**
 * A pipeline module. Read it top to bottom: which hosts, why it would not run, what it needs, what it does.
 * `skip` is a required function of the config, so no module can run by forgetting to declare it
 * (KubeKey's cri-dockerd bug: a shadowed Skip field that was always false).
 */
export interface ModuleDefinition {
  id: ModuleId
  /** The hosts it acts on. */
  hosts(ctx: PlanContext): Host[]
  /** Why it does not run for this config (naming the deciding field and value), or undefined. */
  skip(ctx: PlanContext): string | undefined
  /** Artifacts it reads; versions come from the plan, one per arch of its hosts. */
  needs(ctx: PlanContext): ArtifactName[]
  /** Its steps; only called for modules that run. Absent while a module is not implemented yet. */
  tasks?(ctx: PlanContext): Task[]
  /**
   * The files its tasks write on `host`, from the same functions the tasks use (what `kk-action render`
   * shows). Values only the node or the run can give (tokens, keys, what is found on the node) are placeholders.
   */
  files?(ctx: PlanContext, host: Host): NodeFile[]
}

/** A file a module writes on a node. */
export interface NodeFile {
  path: string
  mode: number
  content: string
  /** A file on the runner sent as it is (a user's manifest or chart); `content` is then empty. */
  source?: string
  /** Holds secrets: uploaded from a private temporary copy on the runner, never logged. */
  secret?: boolean
  /** The machine's own file at this path is kept for the delete pipeline to put back (PutOptions.keepOriginal). */
  keepOriginal?: boolean
  /** What about the file is decided on the node or during the run (for render's readers). */
  note?: string
}

export function defineModule(definition: ModuleDefinition): ModuleDefinition {
  return definition
}

/** Hosts that run Kubernetes (control plane or worker). */
export function kubernetesNodes(ctx: PlanContext): Host[] {
  return ctx.hostsWithRole('control-plane', 'worker')
}

/** A value only the node or the run can give, as render shows it: visible, and never a value that works. */
export function placeholder(what: string): string {
  return `<${what}>`
}

export const nothingNeeded = (): ArtifactName[] => []
export const alwaysRuns = (): undefined => undefined
