/**
 * When a real-Kubernetes scenario fails, its kk-action logs directories and each node's kubelet, containerd
 * and docker journals are kept outside the clone (KK_TEST_ARTIFACTS, default /var/tmp/kk-action-test-artifacts)
 * and the path is printed, so a red CI run can be read afterwards.
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import type { TestNodes } from '../nodes/testnodes.js'

interface Failing { result?: { state?: string }; tasks?: Failing[] }
const failed = (task: Failing): boolean => task.result?.state === 'fail' || (task.tasks ?? []).some(failed)

export function keepLogsOnFailure(scenario: string, where: () => { dir?: string; nodes?: TestNodes }): void {
  afterAll(async (suite) => {
    if (!failed(suite as Failing)) return
    const { dir, nodes } = where()
    const out = join(process.env.KK_TEST_ARTIFACTS ?? '/var/tmp/kk-action-test-artifacts', `${scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
    mkdirSync(out, { recursive: true })
    if (dir && existsSync(dir)) cpSync(dir, join(out, 'run'), { recursive: true, filter: (src) => !src.includes('/artifacts') })
    for (const node of nodes?.nodes ?? []) {
      const journal = await nodes!.exec(node.name, ['sh', '-c', 'journalctl --no-pager -o short-precise -u kubelet -u containerd -u docker -u etcd 2>&1 | tail -n 3000'])
      writeFileSync(join(out, `${node.name}-journal.log`), journal.stdout)
    }
    console.error(`[${scenario}] failed: logs kept in ${out}`)
  }, 120_000)
}
