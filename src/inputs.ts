import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as core from '@actions/core'
import { UserError } from './errors.js'
import type { Overrides } from './config/types.js'

const COMMANDS = ['deploy', 'plan', 'delete'] as const
const NODE_MODES = ['target', 'ephemeral'] as const
const HOST_KEY_POLICIES = ['strict', 'accept-new', 'off'] as const

export interface ActionInputs {
  config: string
  command: (typeof COMMANDS)[number]
  nodes: (typeof NODE_MODES)[number]
  overrides: Overrides
  sshPrivateKey?: string
  sshPassword?: string
  knownHosts?: string
  hostKeyPolicy: (typeof HOST_KEY_POLICIES)[number]
  mirror?: string
  checksums?: string
  offlineDir?: string
  cache: boolean
  concurrency: number
  logsArtifact?: string
  logsRetentionDays?: number
  cleanup: boolean
}

function choice<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
  const value = core.getInput(name) || fallback
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UserError(`input ${name} is "${value}"`, {}, `Allowed: ${allowed.join(', ')}`)
  }
  return value as T
}

function optional(name: string): string | undefined {
  return core.getInput(name) || undefined
}

function positiveInteger(name: string, fallback?: number): number | undefined {
  const text = core.getInput(name)
  if (!text) return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) throw new UserError(`input ${name} is "${text}"`, {}, 'Give a whole number of 1 or more')
  return value
}

function flag(name: string, fallback: boolean): boolean {
  const text = core.getInput(name)
  if (!text) return fallback
  if (!['true', 'false'].includes(text.toLowerCase())) throw new UserError(`input ${name} is "${text}"`, {}, 'Use true or false')
  return text.toLowerCase() === 'true'
}

export function readInputs(): ActionInputs {
  return {
    config: core.getInput('config') || 'cluster.yaml',
    command: choice('command', COMMANDS, 'deploy'),
    nodes: choice('nodes', NODE_MODES, 'target'),
    overrides: {
      kubernetesVersion: optional('kubernetes-version'),
      containerManager: optional('container-manager'),
      networkPlugin: optional('network-plugin'),
    },
    sshPrivateKey: optional('ssh-private-key'),
    sshPassword: optional('ssh-password'),
    knownHosts: optional('known-hosts'),
    hostKeyPolicy: choice('host-key-policy', HOST_KEY_POLICIES, 'strict'),
    mirror: optional('mirror'),
    checksums: optional('checksums'),
    offlineDir: optional('offline-dir'),
    cache: flag('cache', true),
    concurrency: positiveInteger('concurrency', 10)!,
    logsArtifact: optional('logs-artifact'),
    logsRetentionDays: positiveInteger('logs-retention-days'),
    cleanup: flag('cleanup', false),
  }
}

/** The `known-hosts` input holds lines, not a path: they go to a private file for the SSH layer. */
export function knownHostsFile(inputs: ActionInputs): string | undefined {
  if (!inputs.knownHosts) return undefined
  const base = process.env.RUNNER_TEMP || tmpdir()
  mkdirSync(base, { recursive: true })
  const dir = mkdtempSync(join(base, 'kk-known-hosts-'))
  const file = join(dir, 'known_hosts')
  writeFileSync(file, inputs.knownHosts.endsWith('\n') ? inputs.knownHosts : `${inputs.knownHosts}\n`, { mode: 0o600 })
  return file
}
