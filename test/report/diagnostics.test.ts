import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectHost } from '../../src/nodes/connect.js'
import type { Connection } from '../../src/nodes/connection.js'
import { collectDiagnostics, notReadyPods } from '../../src/report/diagnostics.js'
import { Redactor } from '../../src/report/redact.js'
import { DeploymentReport } from '../../src/report/report.js'
import { safeFileName } from '../../src/report/safe-name.js'
import { hostFor } from '../nodes/fixture.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'

const skip = await testNodesSkipReason()

const REGISTRY_PASSWORD = 'registry-Pass-7731'
const JOIN_TOKEN = 'k8sabc.0123456789abcdef'
const CERTIFICATE_KEY = 'c0ffee'.repeat(10) + 'beef'

/**
 * TEST DOUBLE of kubectl for this file only: a control plane whose API answers, with one pod not ready
 * whose name tries shell injection. Every call is logged so the test can see how arguments arrived.
 */
const KUBECTL_DOUBLE = `#!/bin/sh
# kk-action TEST DOUBLE of kubectl (diagnostics test) - NOT the real kubectl
printf '%s\\n' "$*" >> /var/log/kk-diag-kubectl.log
case "$*" in
  *"get --raw=/readyz"*) echo ok ;;
  *"get nodes,pods -A -o wide"*) printf 'NAME          STATUS   ROLES\\nnode/node1    Ready    control-plane\\n' ;;
  *"get pods -A --no-headers"*) printf 'kube-system   etcd-node1   Running   true\\nkube-system   evil;touch\${IFS}/tmp/pwned   Pending   <none>\\nkube-system   job-done   Succeeded   false\\n' ;;
  *"describe pod"*) for last; do :; done; printf 'Name: %s\\nEvents: FailedScheduling\\n' "$last" ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
`

/** The files the action writes, here with secrets in them that must not reach the logs. */
const WRITTEN = {
  '/etc/containerd/config.toml': `[plugins."io.containerd.grpc.v1.cri".registry.configs."r.example".auth]\n  username = "kk"\n  password = "${REGISTRY_PASSWORD}"\n`,
  '/etc/kubernetes/kubeadm-config.yaml': `apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nbootstrapTokens:\n- token: "${JOIN_TOKEN}"\ncertificateKey: ${CERTIFICATE_KEY}\n`,
  '/etc/etcd.env': 'ETCD_NAME=etcd-node1\n',
  '/etc/kubernetes/admin.conf': 'apiVersion: v1\nkind: Config\n',
  '/usr/local/bin/kubectl': KUBECTL_DOUBLE,
  '/usr/local/bin/docker': '#!/bin/sh\n# TEST DOUBLE: a docker CLI whose daemon never answers\nsleep 30\n',
  '/etc/systemd/system/kubelet.service': '[Service]\nExecStart=/bin/sh -c "echo kubelet-boom-marker; exit 1"\n',
}

describe.skipIf(skip)('diagnostics of a failed host, on a real test node over SSH', () => {
  let nodes: TestNodes
  let connection: Connection

  beforeAll(async () => {
    nodes = await startTestNodes({ count: 1 })
    for (const [path, content] of Object.entries(WRITTEN)) {
      await nodes.exec('node1', ['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod 755 "$1"', 'sh', path], content)
    }
    await nodes.exec('node1', ['sh', '-c', 'systemctl daemon-reload; systemctl start kubelet; true'])
    // kkpw needs its password for sudo: the password travels on stdin and must stay out of the file.
    connection = await connectHost(hostFor(nodes, 'node1', 'kkpw', { privateKey: undefined, password: nodes.password }), {
      hostKeyPolicy: 'strict', knownHostsPath: nodes.knownHostsPath, retries: 0,
    })
  })
  afterAll(async () => {
    await connection?.close()
    await nodes?.stop()
  })

  it('collects services, journals, containers, the cluster view, kernel, disk, memory and the written configs, redacted', async () => {
    const logsDir = mkdtempSync(join(tmpdir(), 'kk-diag-'))
    const redactor = new Redactor([nodes.password, REGISTRY_PASSWORD])
    const started = Date.now()
    const file = await collectDiagnostics(connection, 'node1', logsDir, redactor, { commandTimeoutMs: 2_000 })
    const elapsed = Date.now() - started
    expect(file).toBe(join(logsDir, 'hosts/node1/diagnostics.log'))
    const text = readFileSync(file, 'utf8')
    const section = (title: string) => {
      const start = text.indexOf(`\n## ${title}\n`)
      expect(start, `section ${title}`).toBeGreaterThanOrEqual(0)
      const end = text.indexOf('\n## ', start + 1)
      return text.slice(start, end < 0 ? undefined : end)
    }
    expect(section('service states')).toMatch(/kubelet\.service[\s\S]*failed/)
    expect(section('journal of kubelet')).toContain('kubelet-boom-marker')
    expect(section('journal of etcd')).toMatch(/-- No entries --|\(exit \d+/)
    // The hung docker CLI is cut off and the collection goes on.
    expect(section('docker containers')).toMatch(/could not run: .*command timed out after 2 s/)
    expect(section('disk')).toMatch(/Filesystem/)
    expect(section('memory')).toMatch(/Mem:/)
    expect(section('kernel messages')).toMatch(/\(exit \d+/)
    expect(section('API server readiness')).toContain('ok\n(exit 0')
    expect(section('nodes and pods')).toContain('node/node1    Ready')
    // Only the pod that is neither ready nor finished is described; its name arrived as one argument.
    expect(text).not.toContain('## pod kube-system/etcd-node1')
    expect(text).not.toContain('## pod kube-system/job-done')
    expect(section('pod kube-system/evil;touch${IFS}/tmp/pwned')).toContain('Name: evil;touch${IFS}/tmp/pwned')
    expect((await nodes.exec('node1', ['test', '-e', '/tmp/pwned'])).code).not.toBe(0)
    expect(section('config /etc/containerd/config.toml')).toContain('password = "***"')
    expect(section('config /etc/kubernetes/kubeadm-config.yaml')).toContain('- token: "***"')
    expect(section('config /etc/kubernetes/kubeadm-config.yaml')).toContain('certificateKey: ***')
    expect(section('config /etc/etcd.env')).toContain('ETCD_NAME=etcd-node1')
    expect(section('config /etc/docker/daemon.json')).toContain('(not present)')
    for (const secret of [nodes.password, REGISTRY_PASSWORD, JOIN_TOKEN, CERTIFICATE_KEY]) expect(text).not.toContain(secret)
    expect(elapsed).toBeLessThan(30_000)
  })

  it('stops at its time budget and says what it skipped', async () => {
    const logsDir = mkdtempSync(join(tmpdir(), 'kk-diag-'))
    const file = await collectDiagnostics(connection, 'node1', logsDir, new Redactor(), { commandTimeoutMs: 2_000, budgetMs: 1 })
    const text = readFileSync(file, 'utf8')
    expect(text).toContain('## config /etc/etcd.env')
    expect(text).toMatch(/skipped: the 0 s budget for diagnostics is used up/)
  })
})

describe('diagnostics without a node', () => {
  it('a host that cannot be reached gets a diagnostics.log that says so, and the report goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kk-diag-'))
    const report = DeploymentReport.open({ dir, redactor: new Redactor() })
    const base = { module: 'precheck' as const, task: 'check sudo', host: '../node2' }
    report.emit({ time: '2026-11-27T00:00:00.000Z', type: 'task-end', ...base, status: 'failed', durationMs: 5, attempt: 1, error: 'connect ECONNREFUSED' })
    await report.diagnose(async () => { throw new Error('connect ECONNREFUSED 10.0.0.3:22') })
    expect(readFileSync(join(dir, 'hosts', safeFileName('../node2'), 'diagnostics.log'), 'utf8'))
      .toBe('# diagnostics of ../node2: no connection (connect ECONNREFUSED 10.0.0.3:22)\n')
  })

  it('gives up on a connection that does not open in time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kk-diag-'))
    const report = DeploymentReport.open({ dir, redactor: new Redactor() })
    report.emit({ time: '2026-11-27T00:00:00.000Z', type: 'task-end', module: 'etcd', task: 'start', host: 'node3', status: 'failed', durationMs: 5, attempt: 1 })
    const started = Date.now()
    await report.diagnose(() => new Promise(() => {}), { connectTimeoutMs: 200 })
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(readFileSync(join(dir, 'hosts/node3/diagnostics.log'), 'utf8')).toBe('# diagnostics of node3: no connection (no connection within 0.2 s)\n')
  })

  it('picks the pods that are not ready from kubectl\'s columns', () => {
    expect(notReadyPods([
      'kube-system   a   Running     true,true',
      'kube-system   b   Running     true,false',
      'kube-system   c   Pending     <none>',
      'default       d   Succeeded   false',
      'default       e   Failed      false',
      '',
    ].join('\n'))).toEqual([
      { namespace: 'kube-system', name: 'b' }, { namespace: 'kube-system', name: 'c' }, { namespace: 'default', name: 'e' },
    ])
  })
})
