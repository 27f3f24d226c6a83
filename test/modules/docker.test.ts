/**
 * The docker and cri-dockerd modules for real on one systemd test node: Debian's dockerd 20.10 (repacked by
 * the local mirror as the static bundle, with containerd and runc inside) and the cri-dockerd and crictl test
 * doubles, installed over SSH by runPipeline for Kubernetes v1.26 (so cri-dockerd is needed). The config comes
 * from a KubeKey YAML file through loadConfig.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import type { ClusterConfig } from '../../src/config/types.js'
import { ConnectionPool } from '../../src/nodes/connect.js'
import { sh } from '../../src/nodes/quote.js'
import { buildMirror, type MirrorBuild } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { runModules, setupWithMirror, type ModuleRun, type ModuleRunSetup } from './pipeline-run.js'
import { renderDrift, unlistedUploads } from './rendered-on-node.js'

const CONFIG_FILE = join(import.meta.dirname, '../fixtures/configs/runtime-docker.yaml')
const REGISTRY_PASSWORD = 'kk-docker-secret-9x'
const PAUSE = 'dockerhub.kk-test.invalid/kubesphere/pause:3.9'

function loadTestConfig(nodes: TestNodes, mirror: MirrorBuild): ClusterConfig {
  const versions = mirror.componentVersions
  const env = {
    KK_NODE1: nodes.node('node1').address, KK_KEY: nodes.keyPath, KK_REGISTRY_PASSWORD: REGISTRY_PASSWORD,
    KK_DOCKER: versions.docker, KK_CRICTL: versions.crictl, KK_CRI_DOCKERD: versions['cri-dockerd'],
  }
  return loadConfig(CONFIG_FILE, { env }).config
}

const deploy = (setup: ModuleRunSetup) => runModules(setup, { concurrency: 2 })

async function onNode(nodes: TestNodes, script: string): Promise<string> {
  const result = await nodes.exec('node1', ['sh', '-c', script])
  if (result.code !== 0) throw new Error(`${script} exited ${result.code}: ${result.stderr}${result.stdout}`)
  return result.stdout
}

/** What systemd and dockerd said, for a failure message that shows why dockerd did not come up. */
async function dockerDiagnostics(nodes: TestNodes): Promise<string> {
  const result = await nodes.exec('node1', ['sh', '-c', 'systemctl status docker --no-pager; journalctl -u docker --no-pager -n 40 -o cat'])
  return result.stdout + result.stderr
}

const skipReason = await testNodesSkipReason()
const MACHINE_DAEMON_JSON = '{"debug": true}'

describe.skipIf(skipReason)('docker and cri-dockerd modules on a test node, Kubernetes v1.26', () => {
  let setup: ModuleRunSetup
  let first: ModuleRun

  beforeAll(async () => {
    const mirror = await buildMirror()
    const nodes = await startTestNodes({ count: 1 })
    const config = loadTestConfig(nodes, mirror)
    setup = await setupWithMirror(nodes, mirror, config, { skipModules: ['precheck', 'configure-os', 'sync-binaries'], until: 'cri-dockerd' })
    // The machine's own daemon.json (a Docker package's, a runner image's): kk-action must keep it for delete.
    await onNode(nodes, `mkdir -p /etc/docker && printf '%s\\n' '${MACHINE_DAEMON_JSON}' > /etc/docker/daemon.json && chmod 640 /etc/docker/daemon.json`)
    first = await deploy(setup)
    console.log(`docker + cri-dockerd on 1 node: first deploy ${first.ms} ms, ${first.bytesUploaded} bytes uploaded`)
  }, 180_000)

  afterAll(async () => {
    await setup?.nodes.stop()
  })

  it('plans docker, crictl and cri-dockerd; containerd is skipped', () => {
    const byId = new Map(setup.plan.modules.map((m) => [m.id, m]))
    expect(byId.get('containerd')).toMatchObject({ skip: true, reason: 'kubernetes.containerManager is docker' })
    expect(byId.get('docker')).toMatchObject({ skip: false, hosts: ['node1'] })
    expect(byId.get('cri-dockerd')).toMatchObject({ skip: false, hosts: ['node1'] })
    expect(setup.plan.artifacts.map((a) => a.name).sort()).toEqual(['cri-dockerd', 'crictl', 'docker'])
  })

  it('starts dockerd from the static bundle with the systemd cgroup driver', async () => {
    if (first.error) throw new Error(`${String(first.error)}\n${await dockerDiagnostics(setup.nodes)}`)
    expect(await onNode(setup.nodes, 'systemctl is-active docker docker.socket; systemctl is-enabled docker docker.socket')).toBe('active\nactive\nenabled\nenabled\n')
    expect(await onNode(setup.nodes, 'readlink /proc/$(systemctl show -p MainPID --value docker)/exe')).toBe('/usr/local/bin/dockerd\n')
    expect(await onNode(setup.nodes, "/usr/local/bin/docker version --format '{{.Server.Version}}'")).toContain(setup.mirror.componentVersions.docker)
    expect(await onNode(setup.nodes, "/usr/local/bin/docker info --format '{{.CgroupDriver}} {{.RegistryConfig.Mirrors}}'"))
      .toBe('systemd [https://mirror.kk-test.invalid/]\n')
    // dockerd supervises the bundle's containerd (no --containerd given): it runs from /usr/local/bin too.
    expect(await onNode(setup.nodes, 'for p in $(pgrep -x containerd); do readlink /proc/$p/exe; done')).toBe('/usr/local/bin/containerd\n')
  })

  it('writes daemon.json with the cgroup driver, mirrors and insecure registries; credentials for the kubelet (0600)', async () => {
    const daemon = JSON.parse(await onNode(setup.nodes, 'cat /etc/docker/daemon.json')) as Record<string, unknown>
    expect(daemon).toMatchObject({
      'exec-opts': ['native.cgroupdriver=systemd'],
      'registry-mirrors': ['https://mirror.kk-test.invalid'],
      'insecure-registries': ['dockerhub.kk-test.invalid'],
    })
    expect(daemon).not.toHaveProperty('data-root')
    // The machine's own file, kept as it was (mode too) for the delete pipeline's cleanup to put back.
    expect(await onNode(setup.nodes, 'cat /etc/docker/daemon.json.kk-action-orig; stat -c %a /etc/docker/daemon.json.kk-action-orig'))
      .toBe(`${MACHINE_DAEMON_JSON}\n640\n`)
    expect(await onNode(setup.nodes, 'stat -c %a /var/lib/kubelet/config.json')).toBe('600\n')
    const auths = JSON.parse(await onNode(setup.nodes, 'cat /var/lib/kubelet/config.json')) as { auths: Record<string, { auth: string }> }
    expect(Buffer.from(auths.auths['dockerhub.kk-test.invalid'].auth, 'base64').toString()).toBe(`deployer:${REGISTRY_PASSWORD}`)
    expect(JSON.stringify(first.events)).not.toContain(REGISTRY_PASSWORD)
  })

  it('render shows what the node got: daemon.json, the docker and cri-dockerd units, crictl.yaml', async () => {
    const drift = await renderDrift(setup)
    expect(drift.problems).toEqual([])
    expect(drift.compared).toBe(6)
  })

  it('render lists every file the deploy uploaded but artifacts', () => {
    expect(unlistedUploads(setup, first.events)).toEqual([])
  })

  it('loads and runs the tiny local image with docker', async () => {
    const pool = new ConnectionPool({ hostKeyPolicy: 'strict', knownHostsPath: setup.nodes.knownHostsPath })
    try {
      const connection = await pool.get(setup.config.hosts[0])
      await connection.upload(setup.mirror.image.tar, '/root/kk-busybox.tar', { sudo: true })
      const loaded = await connection.exec(sh`/usr/local/bin/docker load -i /root/kk-busybox.tar`, { sudo: true, timeoutMs: 60_000 })
      expect(loaded.code, loaded.stderr).toBe(0)
      const ran = await connection.exec(sh`/usr/local/bin/docker run --rm kk-busybox:test /bin/busybox echo ${'hello from docker'}`, { sudo: true, timeoutMs: 60_000 })
      expect(ran.code, ran.stderr).toBe(0)
      expect(ran.stdout).toBe('hello from docker\n')
    } finally {
      await pool.closeAll()
    }
  }, 90_000)

  it('runs cri-dockerd: units in place with the v1.26 pause image, socket listening, crictl pointed at it', async () => {
    expect(first.result?.modules.find((m) => m.id === 'cri-dockerd')).toMatchObject({ status: 'ok' })
    const service = await onNode(setup.nodes, 'cat /etc/systemd/system/cri-docker.service')
    expect(service).toContain(`ExecStart=/usr/local/bin/cri-dockerd --container-runtime-endpoint fd:// --pod-infra-container-image ${PAUSE} --network-plugin=cni`)
    expect(await onNode(setup.nodes, 'cat /etc/systemd/system/cri-docker.socket')).toContain('ListenStream=/run/cri-dockerd.sock')
    expect(await onNode(setup.nodes, 'systemctl is-enabled cri-docker.service cri-docker.socket; systemctl is-active cri-docker.socket'))
      .toBe('enabled\nenabled\nactive\n')
    expect(await onNode(setup.nodes, 'stat -c %F /run/cri-dockerd.sock')).toBe('socket\n')
    expect(await onNode(setup.nodes, '/usr/local/bin/cri-dockerd --version')).toContain(setup.mirror.componentVersions['cri-dockerd'])
    expect(await onNode(setup.nodes, 'cat /etc/crictl.yaml')).toContain('runtime-endpoint: unix:///run/cri-dockerd.sock')
  })

  it('changes nothing and uploads nothing when run again', async () => {
    const pid = await onNode(setup.nodes, 'systemctl show -p MainPID --value docker')
    const rerun = await deploy(setup)
    console.log(`docker + cri-dockerd on 1 node: rerun ${rerun.ms} ms, ${rerun.bytesUploaded} bytes uploaded`)
    expect(rerun.error).toBeUndefined()
    const changed = rerun.events.flatMap((e) => (e.type === 'task-end' && e.status === 'changed' ? [`${e.module}/${e.task}`] : []))
    expect(changed).toEqual([])
    expect(rerun.bytesUploaded).toBe(0)
    expect(await onNode(setup.nodes, 'systemctl show -p MainPID --value docker')).toBe(pid)
  }, 90_000)
})
