/**
 * The containerd module for real: Debian's containerd 1.6 and runc (repacked by the local mirror in the
 * upstream layout) and the crictl test double, installed over SSH (strict host keys, a NOPASSWD sudo user)
 * on three systemd test nodes by runPipeline. The plan stops after cri-dockerd, skips the modules before
 * containerd, and the config comes from a KubeKey YAML file through loadConfig.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import type { ClusterConfig } from '../../src/config/types.js'
import { containerdModule } from '../../src/modules/containerd.js'
import { ConnectionPool } from '../../src/nodes/connect.js'
import { sh } from '../../src/nodes/quote.js'
import { PipelineError } from '../../src/pipeline/errors.js'
import { buildMirror, type MirrorBuild } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { renderFiles } from '../../src/render.js'
import { runModules, setupWithMirror, type ModuleRun, type ModuleRunOptions, type ModuleRunSetup } from './pipeline-run.js'
import { renderDrift, unlistedUploads } from './rendered-on-node.js'

const CONFIG_FILE = join(import.meta.dirname, '../fixtures/configs/runtime-containerd.yaml')
const NODES = ['node1', 'node2', 'node3']
const REGISTRY_PASSWORD = 'kk-test-secret-Pa55'

function loadTestConfig(nodes: TestNodes, mirror: MirrorBuild): ClusterConfig {
  const env = {
    KK_NODE1: nodes.node('node1').address, KK_NODE2: nodes.node('node2').address, KK_NODE3: nodes.node('node3').address,
    KK_KEY: nodes.keyPath, KK_REGISTRY_PASSWORD: REGISTRY_PASSWORD,
    KK_CONTAINERD: mirror.componentVersions.containerd, KK_RUNC: mirror.componentVersions.runc, KK_CRICTL: mirror.componentVersions.crictl,
  }
  return loadConfig(CONFIG_FILE, { env }).config
}

const deploy = (setup: ModuleRunSetup, options: Omit<ModuleRunOptions, 'concurrency'> = {}) => runModules(setup, { concurrency: 3, ...options })

/** Runs a command inside a node (not over SSH) and returns stdout; throws with stderr on failure. */
async function onNode(nodes: TestNodes, name: string, script: string): Promise<string> {
  const result = await nodes.exec(name, ['sh', '-c', script])
  if (result.code !== 0) throw new Error(`${script} on ${name} exited ${result.code}: ${result.stderr}${result.stdout}`)
  return result.stdout
}

/** containerd's main PID on every node. */
async function mainPids(nodes: TestNodes): Promise<Record<string, string>> {
  const pids: Record<string, string> = {}
  for (const node of NODES) pids[node] = (await onNode(nodes, node, 'systemctl show -p MainPID --value containerd')).trim()
  return pids
}

function changedTasks(run: ModuleRun): string[] {
  return run.events.flatMap((e) => (e.type === 'task-end' && e.status === 'changed' ? [`${e.host}: ${e.module}/${e.task}`] : []))
}

const skipReason = await testNodesSkipReason()

describe.skipIf(skipReason)('containerd module on three test nodes', () => {
  let setup: ModuleRunSetup
  let first: ModuleRun

  beforeAll(async () => {
    const mirror = await buildMirror()
    const nodes = await startTestNodes({ count: 3 })
    const config = loadTestConfig(nodes, mirror)
    setup = await setupWithMirror(nodes, mirror, config, { skipModules: ['precheck', 'configure-os', 'sync-binaries'], until: 'cri-dockerd' })
    first = await deploy(setup)
    console.log(`containerd on 3 nodes: first deploy ${first.ms} ms, ${first.bytesUploaded} bytes uploaded`)
  }, 240_000)

  afterAll(async () => {
    await setup?.nodes.stop()
  })

  it('plans containerd, runc and crictl only; cri-dockerd is skipped for the config field that decides it', () => {
    const byId = new Map(setup.plan.modules.map((m) => [m.id, m]))
    expect(byId.get('containerd')).toMatchObject({ skip: false, hosts: NODES })
    expect(byId.get('docker')).toMatchObject({ skip: true, reason: 'kubernetes.containerManager is containerd' })
    expect(byId.get('cri-dockerd')).toMatchObject({ skip: true, reason: 'kubernetes.containerManager is containerd' })
    expect(setup.plan.artifacts.map((a) => a.name).sort()).toEqual(['containerd', 'crictl', 'runc'])
  })

  it('deploys: containerd runs from /usr/local/bin on every node and answers with the mirrored version', async () => {
    expect(first.error).toBeUndefined()
    expect(first.result?.modules.find((m) => m.id === 'containerd')).toMatchObject({ status: 'ok' })
    for (const node of NODES) {
      expect((await onNode(setup.nodes, node, 'systemctl is-active containerd; systemctl is-enabled containerd')).split('\n'))
        .toEqual(['active', 'enabled', ''])
      expect(await onNode(setup.nodes, node, 'readlink /proc/$(systemctl show -p MainPID --value containerd)/exe')).toBe('/usr/local/bin/containerd\n')
      const version = await onNode(setup.nodes, node, '/usr/local/bin/ctr version')
      expect(version.split('Server:')[1]).toContain(setup.mirror.componentVersions.containerd)
      // The CRI plugin loads only when containerd accepts the whole config (config_path next to auth tables).
      expect(await onNode(setup.nodes, node, '/usr/local/bin/ctr plugins ls')).toMatch(/^io\.containerd\.grpc\.v1\s+cri\s.*\sok\s*$/m)
      const runc = setup.mirror.files.find((f) => f.name === 'runc')!
      expect(await onNode(setup.nodes, node, 'sha256sum < /usr/local/sbin/runc')).toContain(runc.sha256)
      expect(await onNode(setup.nodes, node, '/usr/local/bin/crictl --version')).toContain(setup.mirror.componentVersions.crictl)
    }
  })

  it('writes config.toml for containerd 1.x: systemd cgroups, the v1.30 pause image, registries, auths (mode 0600)', async () => {
    const config = await onNode(setup.nodes, 'node2', 'cat /etc/containerd/config.toml')
    expect(config).toContain('version = 2')
    expect(config).toContain('SystemdCgroup = true')
    expect(config).toContain('sandbox_image = "registry.k8s.io/pause:3.9"')
    expect(config).toContain('config_path = "/etc/containerd/certs.d"')
    expect(config).toContain('[plugins."io.containerd.grpc.v1.cri".registry.configs."harbor.kk-test.invalid".auth]')
    expect(config).toContain(`password = "${REGISTRY_PASSWORD}"`)
    // Root in a test node lacks CAP_SYS_RESOURCE: the module's probe finds that and restricts oom_score_adj.
    expect(config).toContain('restrict_oom_score_adj = true')
    expect(first.events.some((e) => e.type === 'log' && e.level === 'warning' && e.host === 'node2' && /restrict_oom_score_adj/.test(e.line))).toBe(true)
    expect(await onNode(setup.nodes, 'node2', 'stat -c %a /etc/containerd/config.toml')).toBe('600\n')
    expect(await onNode(setup.nodes, 'node2', 'cat /etc/containerd/certs.d/docker.io/hosts.toml')).toContain(
      'server = "https://registry-1.docker.io"\n\n[host."https://mirror.kk-test.invalid"]\n  capabilities = ["pull", "resolve"]')
    expect(await onNode(setup.nodes, 'node2', 'cat "/etc/containerd/certs.d/registry.kk-test.invalid:5000/hosts.toml"')).toContain(
      'server = "http://registry.kk-test.invalid:5000"\n\n[host."https://registry.kk-test.invalid:5000"]\n  capabilities = ["pull", "resolve", "push"]\n  skip_verify = true')
    expect(await onNode(setup.nodes, 'node2', 'cat /etc/crictl.yaml')).toContain('runtime-endpoint: unix:///run/containerd/containerd.sock')
    // The same credentials where the kubelet looks for pull secrets of its own.
    expect(await onNode(setup.nodes, 'node2', 'stat -c %a /var/lib/kubelet/config.json')).toBe('600\n')
    const kubelet = JSON.parse(await onNode(setup.nodes, 'node2', 'cat /var/lib/kubelet/config.json')) as { auths: Record<string, { auth: string }> }
    expect(Buffer.from(kubelet.auths['harbor.kk-test.invalid'].auth, 'base64').toString()).toBe(`robot:${REGISTRY_PASSWORD}`)
    // The password went to the node in a file, never into a command line or its output.
    expect(JSON.stringify(first.events)).not.toContain(REGISTRY_PASSWORD)
  })

  it('render shows what the nodes got: units, hosts.toml and crictl.yaml byte for byte; config.toml but for the probe and the password', async () => {
    const drift = await renderDrift(setup)
    expect(drift.problems).toEqual([])
    expect(drift.compared).toBe(12)
    const rendered = renderFiles(setup.plan, setup.config).find((f) => f.host === 'node2' && f.path === '/etc/containerd/config.toml')!
    expect(rendered.content).not.toContain(REGISTRY_PASSWORD)
    const filled = rendered.content.replace('restrict_oom_score_adj = false', 'restrict_oom_score_adj = true')
      .replace(/"<secret: the password of spec\.registry\.auths for harbor\.kk-test\.invalid>"/, `"${REGISTRY_PASSWORD}"`)
    expect(await onNode(setup.nodes, 'node2', 'cat /etc/containerd/config.toml')).toBe(filled)
  })

  it('render lists every file the deploy uploaded but artifacts', () => {
    expect(unlistedUploads(setup, first.events)).toEqual([])
  })

  it('runs a container from the tiny local image on every node', async () => {
    const pool = new ConnectionPool({ hostKeyPolicy: 'strict', knownHostsPath: setup.nodes.knownHostsPath })
    try {
      await Promise.all(setup.config.hosts.map(async (host) => {
        const connection = await pool.get(host)
        await connection.upload(setup.mirror.image.tar, '/root/kk-busybox.tar', { sudo: true })
        const ctr = ['/usr/local/bin/ctr', '-n', 'k8s.io']
        const imported = await connection.exec(sh`${ctr} image import /root/kk-busybox.tar`, { sudo: true })
        expect(imported.code, imported.stderr).toBe(0)
        const ran = await connection.exec(sh`${ctr} run --rm ${setup.mirror.image.name} ${`kk-${host.name}`} /bin/busybox echo ${`hello from ${host.name}`}`, { sudo: true, timeoutMs: 60_000 })
        expect(ran.stderr).toBe('')
        expect(ran.stdout).toBe(`hello from ${host.name}\n`)
      }))
    } finally {
      await pool.closeAll()
    }
  }, 120_000)

  it('changes nothing and uploads nothing when run again', async () => {
    const before = await mainPids(setup.nodes)
    const rerun = await deploy(setup)
    console.log(`containerd on 3 nodes: rerun ${rerun.ms} ms, ${rerun.bytesUploaded} bytes uploaded`)
    expect(rerun.error).toBeUndefined()
    expect(changedTasks(rerun)).toEqual([])
    expect(rerun.result?.changed).toBe(0)
    expect(rerun.bytesUploaded).toBe(0)
    // Nothing restarted either: the same daemons still run.
    expect(await mainPids(setup.nodes)).toEqual(before)
  }, 120_000)

  it('restarts containerd only when config.toml changes; registry hosts alone are picked up live', async () => {
    const { registry } = setup.config
    const original = structuredClone(registry)
    try {
      const before = await mainPids(setup.nodes)
      registry.registryMirrors = ['https://other-mirror.kk-test.invalid']
      registry.insecureRegistries = []
      const hostsOnly = await deploy(setup)
      expect(hostsOnly.error).toBeUndefined()
      expect(new Set(changedTasks(hostsOnly).map((task) => task.split(': ')[1]))).toEqual(new Set(['containerd/configure containerd']))
      expect(await mainPids(setup.nodes)).toEqual(before)
      expect(await onNode(setup.nodes, 'node1', 'cat /etc/containerd/certs.d/docker.io/hosts.toml')).toContain('[host."https://other-mirror.kk-test.invalid"]')
      // The hosts.toml kk-action wrote for the registry no longer configured is gone, directory and all.
      expect(await onNode(setup.nodes, 'node1', 'ls /etc/containerd/certs.d')).toBe('docker.io\n')

      registry.auths['harbor.kk-test.invalid'].password = 'rotated'
      const configChanged = await deploy(setup)
      expect(configChanged.error).toBeUndefined()
      const after = await mainPids(setup.nodes)
      for (const node of NODES) expect(after[node]).not.toBe(before[node])
      expect(await onNode(setup.nodes, 'node3', 'cat /etc/containerd/config.toml')).toContain('password = "rotated"')
    } finally {
      setup.config.registry = original
    }
    const restored = await deploy(setup)
    expect(restored.error).toBeUndefined()
  }, 120_000)

  it('takes restrict_oom_score_adj from the module option over its probe', async () => {
    const explicit = await deploy(setup, { modules: [containerdModule({ restrictOomScoreAdj: false })] })
    expect(explicit.error).toBeUndefined()
    expect(explicit.events.some((e) => e.type === 'log' && e.level === 'warning')).toBe(false)
    for (const node of NODES) {
      expect(await onNode(setup.nodes, node, 'cat /etc/containerd/config.toml')).toContain('restrict_oom_score_adj = false')
    }
    const probed = await deploy(setup)
    expect(probed.error).toBeUndefined()
    expect(await onNode(setup.nodes, 'node1', 'cat /etc/containerd/config.toml')).toContain('restrict_oom_score_adj = true')
  }, 120_000)

  it('never runs the cri-dockerd module, and leaves no cri-dockerd file on any node', async () => {
    expect(first.events.filter((e) => 'module' in e && e.module === 'cri-dockerd').map((e) => e.type)).toEqual(['module-skip'])
    expect(first.result?.modules.find((m) => m.id === 'cri-dockerd')).toMatchObject({ status: 'skipped' })
    for (const node of NODES) {
      const found = await onNode(setup.nodes, node, 'find /usr/local /etc/systemd /etc/crictl.yaml /var/lib/kk-action /run -name "*cri-docker*" 2>/dev/null; true')
      expect(found).toBe('')
    }
  })

  it('reports a containerd that does not start with its journal, and recovers once the cause is gone', async () => {
    const dropIn = '/etc/systemd/system/containerd.service.d/kk-test-break.conf'
    await onNode(setup.nodes, 'node1', `mkdir -p ${join(dropIn, '..')} && printf '[Service]\\nExecStartPre=/bin/false\\n' > ${dropIn} ` +
      '&& systemctl daemon-reload && systemctl stop containerd')
    const broken = await deploy(setup)
    expect(broken.error).toBeInstanceOf(PipelineError)
    const [failure, ...others] = (broken.error as PipelineError).failures
    expect(others).toEqual([])
    expect(failure).toMatchObject({ host: 'node1', task: 'start containerd' })
    expect(failure.message).toMatch(/^containerd did not start: exit code 1: systemctl start containerd/)
    expect(failure.message).toMatch(/last lines of journalctl -u containerd:\n[^]*status=1\/FAILURE/)

    // Removed without a daemon-reload: the module sees systemd's stale view (NeedDaemonReload) and reloads.
    await onNode(setup.nodes, 'node1', `rm ${dropIn}`)
    const recovered = await deploy(setup)
    expect(recovered.error).toBeUndefined()
    expect(await onNode(setup.nodes, 'node1', 'systemctl is-active containerd')).toBe('active\n')
  }, 120_000)

  it('fails naming a node killed during the install, and converges once the node is back', async () => {
    const { nodes } = setup
    // node3 starts over, so the run has an install to interrupt.
    await onNode(nodes, 'node3', 'systemctl stop containerd; rm -rf /usr/local/bin/containerd /usr/local/bin/containerd-shim-runc-v2 ' +
      '/usr/local/bin/ctr /usr/local/bin/crictl /usr/local/sbin/runc /var/lib/kk-action')
    let killing: Promise<void> | undefined
    const interrupted = await deploy(setup, {
      sshRetries: 1,
      onEvent: (event) => {
        // The archive's directory is made right before the archive is sent: kill node3 then.
        if (!killing && event.type === 'command' && event.host === 'node3' && event.command.includes('/var/lib/kk-action/artifacts/containerd')) {
          killing = nodes.kill('node3')
        }
      },
    })
    await killing
    expect(killing).toBeDefined()
    expect(interrupted.error).toBeInstanceOf(PipelineError)
    const failure = interrupted.error as PipelineError
    expect(failure.module).toBe('containerd')
    expect(failure.failures.map((f) => f.host)).toEqual(['node3'])
    expect(failure.message).toMatch(/module containerd failed on 1 host\(s\):\n {2}node3: task "install containerd, runc and crictl"/)

    await nodes.restart('node3')
    const recovered = await deploy(setup)
    expect(recovered.error).toBeUndefined()
    expect(changedTasks(recovered).every((task) => task.startsWith('node3: '))).toBe(true)
    expect(await onNode(nodes, 'node3', 'systemctl is-active containerd')).toBe('active\n')
    expect(await onNode(nodes, 'node3', 'readlink /proc/$(systemctl show -p MainPID --value containerd)/exe')).toBe('/usr/local/bin/containerd\n')

    const settled = await deploy(setup)
    expect(changedTasks(settled)).toEqual([])
    expect(settled.bytesUploaded).toBe(0)
  }, 180_000)
})
