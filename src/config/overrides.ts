import { UserError } from '../errors.js'
import type { ClusterConfig, ContainerManager, NetworkPlugin, Overrides } from './types.js'
import { containerManagerProblem, networkPluginProblem } from './schema.js'
import { kubernetesVersionProblem } from './validators.js'

interface OverrideRule {
  /** The action input; the CLI flag is the same name with `--`. */
  input: string
  configField: string
  problem(value: string): string | undefined
  apply(config: ClusterConfig, value: string): string
}

const RULES: Record<keyof Overrides, OverrideRule> = {
  kubernetesVersion: {
    input: 'kubernetes-version',
    configField: 'spec.kubernetes.version',
    problem: kubernetesVersionProblem,
    apply(config, value) {
      const previous = config.kubernetes.version
      config.kubernetes.version = value
      return previous
    },
  },
  containerManager: {
    input: 'container-manager',
    configField: 'spec.kubernetes.containerManager',
    problem: containerManagerProblem,
    apply(config, value) {
      const previous = config.kubernetes.containerManagerDefaulted ? `${config.kubernetes.containerManager} (default)` : config.kubernetes.containerManager
      config.kubernetes.containerManager = value as ContainerManager
      config.kubernetes.containerManagerDefaulted = false
      return previous
    },
  },
  networkPlugin: {
    input: 'network-plugin',
    configField: 'spec.network.plugin',
    problem: networkPluginProblem,
    apply(config, value) {
      const previous = config.network.plugin
      config.network.plugin = value as NetworkPlugin
      return previous
    },
  },
}

/**
 * Applies the inputs/flags that override the file, validated like the file. An empty value means "not given"
 * (an Action input that was not set reads as ''). Returns one notice per override applied.
 */
export function applyOverrides(config: ClusterConfig, overrides: Overrides): string[] {
  const notices: string[] = []
  for (const [name, rule] of Object.entries(RULES) as [keyof Overrides, OverrideRule][]) {
    const value = overrides[name]?.trim()
    if (!value) continue
    const problem = rule.problem(value)
    if (problem) {
      throw new UserError(problem, { field: `${rule.input} (action input or --${rule.input} flag)` }, `It overrides ${rule.configField} of ${config.file}`)
    }
    const previous = rule.apply(config, value)
    notices.push(`${rule.configField} is ${value} from the ${rule.input} input/flag (the config says ${previous})`)
  }
  return notices
}
