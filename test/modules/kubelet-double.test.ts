/**
 * The kubelet test double refuses what the real kubelet of its version refuses before it runs, and the
 * kubelet flags kk-action puts in the kubeadm configuration (kubeletArgs) start a kubelet of every version.
 */
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { isUserError } from '../../src/errors.js'
import { parseConfig } from '../../src/config/index.js'
import { renderInitConfig } from '../../src/modules/kubeadm-config.js'
import { renderDouble } from '../fixtures/build-mirror.js'

const dir = mkdtempSync(join(tmpdir(), 'kk-kubelet-double-'))
const socket = join(dir, 'containerd.sock')
const config = join(dir, 'config.yaml')
let server: Server
beforeAll(async () => {
  writeFileSync(config, 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n')
  server = createServer()
  await new Promise<void>((resolve) => server.listen(socket, resolve))
})
afterAll(() => {
  server?.close()
  rmSync(dir, { recursive: true, force: true })
})

function kubelet(version: string): string {
  const path = join(dir, `kubelet-${version}`)
  writeFileSync(path, renderDouble('kubelet', version))
  chmodSync(path, 0o755)
  return path
}

/**
 * Starts the double as systemd would; one still running after a second has accepted its flags. It runs in its
 * own process group, which is stopped as a whole (its sleep included).
 */
async function start(version: string, args: string[]): Promise<{ accepted: boolean; stderr: string }> {
  mkdirSync(join(dir, 'state'), { recursive: true })
  const env = { ...process.env, KK_DOUBLES_LOG_DIR: join(dir, 'log'), KK_DOUBLES_STATE_DIR: join(dir, 'state') }
  const child = spawn(kubelet(version), args, { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<boolean>((resolve) => child.on('exit', () => resolve(false)))
  const running = await Promise.race([exited, new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 1000))])
  if (running) {
    process.kill(-child.pid!, 'SIGTERM')
    await exited
  }
  return { accepted: running, stderr: stderr.trim() }
}
const base = () => [`--config=${config}`, `--container-runtime-endpoint=unix://${socket}`]

describe('the kubelet double refuses what the real kubelet refuses', () => {
  it('dockershim flags: accepted by 1.23, "unknown flag" from 1.24', async () => {
    expect((await start('v1.23.17', [...base(), '--container-runtime=remote', '--network-plugin=cni'])).accepted).toBe(true)
    for (const flag of ['--network-plugin=cni', '--cni-bin-dir=/opt/cni/bin', '--image-pull-progress-deadline=2m']) {
      const refused = await start('v1.24.17', [...base(), flag])
      expect(refused.accepted).toBe(false)
      expect(refused.stderr).toBe(`Error: failed to parse kubelet flag: unknown flag: ${flag.split('=')[0]}`)
    }
  })

  it('--container-runtime: only remote on 1.24-1.26, gone from 1.27', async () => {
    expect((await start('v1.26.15', [...base(), '--container-runtime=remote'])).accepted).toBe(true)
    expect((await start('v1.26.15', [...base(), '--container-runtime', 'docker'])).stderr).toMatch(/unsupported CRI runtime: "docker", only "remote"/)
    expect((await start('v1.27.16', [...base(), '--container-runtime=remote'])).stderr).toBe('Error: failed to parse kubelet flag: unknown flag: --container-runtime')
  })

  it('a missing --config file and an endpoint that is no socket are refused with the kubelet\'s errors', async () => {
    expect((await start('v1.30.1', [`--config=${join(dir, 'absent.yaml')}`, `--container-runtime-endpoint=unix://${socket}`])).stderr)
      .toMatch(/failed to load kubelet config file, path: .*absent\.yaml.*no such file or directory/)
    expect((await start('v1.30.1', [`--config=${config}`, `--container-runtime-endpoint=unix://${join(dir, 'none.sock')}`])).stderr)
      .toMatch(/validate CRI v1 runtime API for endpoint .*none\.sock.*connect: no such file or directory/)
  })

  it('1.27+: the endpoint may come from the config file\'s containerRuntimeEndpoint', async () => {
    const withEndpoint = join(dir, 'with-endpoint.yaml')
    writeFileSync(withEndpoint, `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: "unix://${socket}"\n`)
    expect((await start('v1.30.1', [`--config=${withEndpoint}`])).accepted).toBe(true)
  })

  it('below 1.24 without --container-runtime=remote, dockershim needs docker\'s socket', async () => {
    expect((await start('v1.20.2', [`--config=${config}`])).stderr).toMatch(/Cannot connect to the Docker daemon at unix:\/\/\/var\/run\/docker\.sock/)
  })
})

describe('kubeletArgs from the config reach a kubelet that accepts them', () => {
  const cluster = (version: string, kubeletArgs: string[]) => `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata: {name: t}
spec:
  hosts: [{name: node1, address: 10.0.0.1}]
  roleGroups: {etcd: [node1], control-plane: [node1], worker: [node1]}
  kubernetes:
    version: ${version}
    containerManager: containerd
    kubeletArgs: ${JSON.stringify(kubeletArgs)}
  etcd: {type: kubeadm}
`
  /** The config is refused naming kubeletArgs, or the kubelet starts with the flags kubeadm would hand it. */
  async function outcome(version: string, kubeletArgs: string[]): Promise<string> {
    let loaded
    try {
      loaded = parseConfig(cluster(version, kubeletArgs), 'cluster.yaml', { env: {} })
    } catch (error) {
      if (isUserError(error) && error.location.field?.startsWith('spec.kubernetes.kubeletArgs')) return 'refused at kubeletArgs'
      throw error
    }
    const init = parseAllDocuments(renderInitConfig(loaded.config, loaded.config.hosts[0])).map((d) => d.toJSON() as Record<string, unknown>)
      .find((d) => d.kind === 'InitConfiguration') as { nodeRegistration: { kubeletExtraArgs?: Record<string, string> | Array<{ name: string; value: string }> } }
    const extra = init.nodeRegistration.kubeletExtraArgs ?? {}
    const flags = Array.isArray(extra) ? extra.map(({ name, value }) => `--${name}=${value}`) : Object.entries(extra).map(([k, v]) => `--${k}=${v}`)
    const runtime = Number(version.split('.')[1]) < 24 ? ['--container-runtime=remote'] : []
    const started = await start(version, [...base(), ...runtime, ...flags])
    return started.accepted ? 'kubelet started' : started.stderr
  }

  it.each(['v1.23.17', 'v1.24.17', 'v1.27.16', 'v1.30.1'])('%s: a flag the kubelet still has starts it', async (version) => {
    expect(await outcome(version, ['max-pods=200'])).toBe('kubelet started')
  })

  it.each([
    ['v1.24.17', 'network-plugin=cni'], ['v1.28.15', 'cni-bin-dir=/opt/cni/bin'], ['v1.27.16', 'container-runtime=remote'],
  ])('%s: kubeletArgs %s, a flag that kubelet no longer has', async (version, arg) => {
    expect(await outcome(version, [arg])).toBe('refused at kubeletArgs')
  })
})
