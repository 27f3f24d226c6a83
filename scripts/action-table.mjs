#!/usr/bin/env node
// Renders the inputs/outputs tables of action.yml into README.md between the marker comments.
//   node scripts/action-table.mjs          rewrite README.md
//   node scripts/action-table.mjs --check  exit 1 when README.md is out of date
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const BEGIN = '<!-- action-table:begin (generated from action.yml by scripts/action-table.mjs) -->'
const END = '<!-- action-table:end -->'

const cell = (text) => String(text ?? '').replace(/\|/g, '\\|').replace(/\n+/g, ' ').trim()

export function renderTables(action) {
  const inputs = Object.entries(action.inputs ?? {}).map(([name, input]) =>
    `| \`${name}\` | ${input.default === undefined || input.default === '' ? '' : `\`${input.default}\``} | ${cell(input.description)} |`)
  const outputs = Object.entries(action.outputs ?? {}).map(([name, output]) => `| \`${name}\` | ${cell(output.description)} |`)
  return [
    BEGIN, '', '#### Inputs', '', '| input | default | description |', '|---|---|---|', ...inputs, '',
    '#### Outputs', '', '| output | description |', '|---|---|', ...outputs, '', END,
  ].join('\n')
}

export function withTables(readme, action) {
  const start = readme.indexOf(BEGIN)
  const end = readme.indexOf(END)
  if (start < 0 || end < 0) throw new Error('README.md lacks the action-table markers')
  return readme.slice(0, start) + renderTables(action) + readme.slice(end + END.length)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const action = parse(readFileSync(join(root, 'action.yml'), 'utf8'))
  const readmePath = join(root, 'README.md')
  const readme = readFileSync(readmePath, 'utf8')
  const updated = withTables(readme, action)
  if (process.argv.includes('--check')) {
    if (updated !== readme) {
      console.error('README.md inputs/outputs differ from action.yml: run node scripts/action-table.mjs')
      process.exit(1)
    }
  } else {
    writeFileSync(readmePath, updated)
  }
}
