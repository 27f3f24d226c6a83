import type { Plan } from './types.js'

const needsText = (needs: Plan['modules'][number]['needs']): string =>
  needs.map((n) => `${n.name} ${n.version} (${n.arch})`).join(', ')

/** The plan as a plain-text table for a terminal. */
export function formatPlanTable(plan: Plan): string {
  const rows = plan.modules.map((m) => [
    m.id,
    m.skip ? 'skip' : 'run',
    m.skip ? (m.reason ?? '') : '',
    m.hosts.join(',') || '-',
    m.skip ? '' : needsText(m.needs),
  ])
  const header = ['MODULE', 'STATUS', 'REASON', 'HOSTS', 'ARTIFACTS']
  const widths = header.map((h, i) => Math.min(48, Math.max(h.length, ...rows.map((r) => r[i].length))))
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()
  const artifacts = plan.artifacts.map((a) => `  ${a.name} ${a.version} ${a.arch}  sha256:${a.sha256.slice(0, 12)}…  ${a.url}`)
  return [
    `${plan.pipeline} pipeline: Kubernetes ${plan.kubernetesVersion}, ${plan.containerManager}, ${plan.hosts.length} host(s)`,
    '',
    line(header),
    ...rows.map(line),
    '',
    `artifacts (${plan.artifacts.length}):`,
    ...artifacts,
  ].join('\n')
}

const cell = (text: string) => text.replace(/\|/g, '\\|')

/** The plan as markdown, for the job summary. */
export function formatPlanMarkdown(plan: Plan): string {
  const modules = plan.modules.map((m) =>
    `| ${m.id} | ${m.skip ? 'skipped' : 'runs'} | ${cell(m.reason ?? '')} | ${cell(m.hosts.join(', '))} | ${cell(m.skip ? '' : needsText(m.needs))} |`)
  const artifacts = plan.artifacts.map((a) => `| ${a.name} | ${a.version} | ${a.arch} | \`${a.sha256.slice(0, 12)}\` | ${a.url} |`)
  return [
    `### kk-action plan: ${plan.pipeline}, Kubernetes ${plan.kubernetesVersion}, ${plan.containerManager}`,
    '',
    '| module | status | reason | hosts | artifacts |',
    '|---|---|---|---|---|',
    ...modules,
    '',
    `#### Artifacts (${plan.artifacts.length})`,
    '',
    '| name | version | arch | sha256 | url |',
    '|---|---|---|---|---|',
    ...artifacts,
    '',
  ].join('\n')
}
