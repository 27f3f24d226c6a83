/**
 * containerManager docker on a machine that runs its own docker (a runner-image test node: Debian's docker.io
 * 20.10 running from /lib/systemd/system/docker.service): precheck records it, and the docker module never
 * replaces or downgrades it. Too old for the Kubernetes version (cri-dockerd >= 0.3.12 needs Docker 23.0), or on
 * the cgroupfs driver: refused with the reason; new enough (v1.23's dockershim needs Docker API 1.26): used as it is.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import { buildMirror, type MirrorBuild } from '../fixtures/build-mirror.js'
import { writeClusterFile } from '../e2e/cluster.js'
import { buildRunnerAptRepo } from '../nodes/runner-image.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { runModules, setupWithMirror } from './pipeline-run.js'

const skip = await testNodesSkipReason()

describe.skipIf(skip)('docker module on a machine with its own docker', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  const onNode = async (command: string) => (await nodes.exec('node1', ['sh', '-c', command])).stdout.trim()
  /** What identifies the machine's docker: its unit file, its daemon's binary and pid. */
  const machineDocker = () => onNode('systemctl show -p FragmentPath --value docker; p=$(systemctl show -p MainPID --value docker); echo "$p $(readlink /proc/$p/exe)"; ls /usr/local/bin/dockerd 2>&1 || true')

  beforeAll(async () => {
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 1, prefix: 'kkrdk', profile: { kind: 'runner-image', aptRepo: buildRunnerAptRepo() } }), buildMirror()])
    await onNode('for i in $(seq 1 120); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1')
  }, 300_000)
  afterAll(async () => {
    await nodes?.stop()
  })

  async function deployDocker(kubernetesVersion: string, criDockerd?: string) {
    const dir = mkdtempSync(join(tmpdir(), 'kk-runner-docker-'))
    const file = writeClusterFile(dir, nodes, mirror, { kubernetesVersion, containerManager: 'docker' })
    const config = loadConfig(file).config
    if (criDockerd) config.componentVersions = { ...config.componentVersions, 'cri-dockerd': criDockerd }
    const setup = await setupWithMirror(nodes, mirror, config, { skipModules: ['configure-os', 'sync-binaries'], until: 'docker' })
    return runModules(setup, { concurrency: 1 })
  }

  it('too old for cri-dockerd 0.3.16 (Kubernetes v1.30): refused with both versions, the machine\'s docker untouched', { timeout: 300_000 }, async () => {
    const before = await machineDocker()
    expect(before).toMatch(/^\/(usr\/)?lib\/systemd\/system\/docker\.service\n\d+ \/usr\/(s)?bin\/dockerd\n.*No such file/)
    const run = await deployDocker('v1.30.14', '0.3.16')
    expect(String(run.error)).toMatch(/this machine runs its own docker 20\.10\.\d+ \(\/usr\/s?bin\/dockerd\), older than the 23\.0\.0 that cri-dockerd 0\.3\.16 needs Docker API 1\.42; kk-action never replaces a docker it did not install\. Upgrade the machine's docker to 23\.0\.0 or later, or set kubernetes\.containerManager: containerd/)
    expect(await machineDocker()).toBe(before)
  })

  it('with the cgroupfs driver (Debian\'s docker.io here): refused, naming the driver and where the machine sets it', { timeout: 300_000 }, async () => {
    const before = await machineDocker()
    const run = await deployDocker('v1.23.17')
    expect(String(run.error)).toMatch(/dockerd uses the cgroupfs cgroup driver, not systemd as the kubelet expects: check \/etc\/docker\/daemon\.json \(the machine's own docker: set "exec-opts": \["native\.cgroupdriver=systemd"\] there yourself\)/)
    expect(await machineDocker()).toBe(before)
  })

  it('new enough for Kubernetes v1.23 (dockershim), on systemd\'s cgroup driver as a runner image\'s docker on cgroup v2: used as it is, not restarted, none of kk-action\'s installed', { timeout: 300_000 }, async () => {
    await onNode('mkdir -p /etc/docker && echo \'{"exec-opts": ["native.cgroupdriver=systemd"]}\' > /etc/docker/daemon.json && systemctl restart docker')
    const before = await machineDocker()
    expect(before).toMatch(/^\/(usr\/)?lib\/systemd\/system\/docker\.service\n\d+ \/usr\/(s)?bin\/dockerd\n.*No such file/)
    const run = await deployDocker('v1.23.17')
    expect(run.error).toBeUndefined()
    expect(await machineDocker()).toBe(before)
    expect(await onNode('cat /var/lib/kk-action/machine/units/docker.service')).toBe('active=active enabled=enabled')
  })
})
