/**
 * The kubeadm test double refuses what the real kubeadm of its version refuses in what it is told (config documents,
 * flags, CRI socket, images, external etcd version), and the documents kk-action writes pass it. Runs the rendered
 * double on this machine with its state in a scratch directory: no test nodes.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterConfig } from '../../src/config/types.js'
import { renderInitConfig, renderJoinConfig, type ExternalEtcd } from '../../src/modules/kubeadm-config.js'
import { renderContainerdConfig } from '../../src/modules/runtime-containerd-config.js'
import { kubeadmImages } from '../../src/modules/runtime-images.js'
import { renderDouble } from '../fixtures/build-mirror.js'
import { makeConfig } from '../plan/make-config.js'

const scratch = mkdtempSync(join(tmpdir(), 'kk-kubeadm-double-'))
let seq = 0

interface Run { code: number; stdout: string; stderr: string; state: string; root: string }

/** A scratch machine with the double of VERSION: its bin, env and state. */
function machine(version: string, files: Record<string, string>, root: string, env: Record<string, string> = {}) {
  mkdirSync(join(root, 'bin'), { recursive: true })
  const bin = join(root, 'bin', 'kubeadm')
  writeFileSync(bin, renderDouble('kubeadm', version), { mode: 0o755 })
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(path, '..'), { recursive: true })
    writeFileSync(path, text)
  }
  const state = join(root, 'state')
  return {
    bin, state,
    env: {
      PATH: `${join(root, 'bin')}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`, HOME: root,
      KK_DOUBLES_LOG_DIR: join(root, 'log'), KK_DOUBLES_STATE_DIR: state,
      KK_DOUBLES_K8S_DIR: join(root, 'etc-kubernetes'), KK_DOUBLES_KUBELET_DIR: join(root, 'var-lib-kubelet'),
      KK_DOUBLES_CONTAINERD_CONFIG: join(root, 'containerd-config.toml'),
      // Outside a test node: this machine's ip_forward, swap and ports are not the double's to judge.
      KK_DOUBLES_HOST_CHECKS: 'off', ...env,
    },
  }
}

/** Runs `kubeadm ARGS` of VERSION in a fresh scratch machine; `files` are written there first (path → text). */
function kubeadm(version: string, args: string[], files: Record<string, string> = {}, root = join(scratch, `m${seq++}`)): Run {
  const m = machine(version, files, root)
  const result = spawnSync(m.bin, args, { env: m.env, encoding: 'utf8', timeout: 60_000 })
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr, state: m.state, root }
}

/** The same without blocking this process (for a server the double talks to). */
function kubeadmAsync(version: string, args: string[], files: Record<string, string>, root: string): Promise<Run> {
  const m = machine(version, files, root)
  return new Promise((resolve) => {
    const child = spawn(m.bin, args, { env: m.env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, state: m.state, root }))
  })
}

function withConfig(version: string, text: string, extra: string[] = [], sub = 'init'): Run {
  const root = join(scratch, `m${seq++}`)
  const file = join(root, 'kubeadm-config.yaml')
  return kubeadm(version, [sub, '--config', file, ...extra], { [file]: text }, root)
}

function docker(version: string): ClusterConfig {
  return makeConfig({ version, containerManager: 'docker', etcd: 'kubeadm' })
}

describe('kubeadm double: config documents against the API of its version', () => {
  it('accepts what kk-action writes for init and join, v1beta2 to v1beta4', () => {
    for (const version of ['v1.20.2', 'v1.21.14', 'v1.23.17', 'v1.30.14', 'v1.31.14', 'v1.33.1']) {
      const config = makeConfig({ version, etcd: 'kubeadm', controlPlanes: 1, workers: 1 })
      const init = withConfig(version, renderInitConfig(config, config.hosts[0]))
      expect(init.stderr, version).not.toMatch(/error|ERROR/)
      expect(init.code, version).toBe(0)
      const join = withConfig(version, renderJoinConfig(config, config.hosts[1], {
        apiServerEndpoint: 'lb.kubesphere.local:6443', token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'a'.repeat(64)}`,
      }, false), [], 'join')
      expect(join.code, `${version}: ${join.stderr}`).toBe(0)
    }
  })

  it('refuses an API version its kubeadm does not register', () => {
    const v1beta4 = renderInitConfig(makeConfig({ version: 'v1.31.2', etcd: 'kubeadm' }), makeConfig().hosts[0])
    const refused = withConfig('v1.30.14', v1beta4)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/no kind "InitConfiguration" is registered for version "kubeadm.k8s.io\/v1beta4"/)
    const v1beta3 = renderInitConfig(makeConfig({ version: 'v1.22.17', etcd: 'kubeadm' }), makeConfig().hosts[0])
    expect(withConfig('v1.21.14', v1beta3).stderr).toMatch(/no kind "InitConfiguration" is registered for version "kubeadm.k8s.io\/v1beta3"/)
    const v1beta2 = renderInitConfig(makeConfig({ version: 'v1.21.14', etcd: 'kubeadm' }), makeConfig().hosts[0])
    expect(withConfig('v1.26.13', v1beta2).code).toBe(1)
  })

  it('unknown fields: an error from v1beta3 on, a warning with v1beta2; a wrong type is an error in both', () => {
    const v1beta3 = renderInitConfig(makeConfig({ version: 'v1.30.14', etcd: 'kubeadm' }), makeConfig().hosts[0]).replace('clusterName:', 'clusterNam: x\nclusterName:')
    const strict = withConfig('v1.30.14', v1beta3)
    expect(strict.code).toBe(1)
    expect(strict.stderr).toMatch(/strict decoding error: unknown field "clusterNam"/)
    const v1beta2 = renderInitConfig(makeConfig({ version: 'v1.20.2', etcd: 'kubeadm' }), makeConfig().hosts[0])
    const lenient = withConfig('v1.20.2', v1beta2.replace('clusterName:', 'clusterNam: x\nclusterName:'))
    expect(lenient.code).toBe(0)
    expect(lenient.stderr).toMatch(/unknown field "clusterNam"/)
    const list = withConfig('v1.20.2', v1beta2.replace(/kubeletExtraArgs:\n\s+node-ip: (\S+)/, 'kubeletExtraArgs:\n    - name: node-ip\n      value: $1'))
    expect(list.code).toBe(1)
    expect(list.stderr).toMatch(/nodeRegistration\.kubeletExtraArgs/)
  })
})

describe('kubeadm double: CRI socket before 1.24', () => {
  it('docker on 1.20 and 1.23: kk-action\'s criSocket passes; the unix:// form is a remote CRI and fails preflight', () => {
    for (const version of ['v1.20.2', 'v1.23.17']) {
      const config = docker(version)
      const text = renderInitConfig(config, config.hosts[0])
      expect(text).toContain('criSocket: /var/run/dockershim.sock')
      expect(withConfig(version, text).code, version).toBe(0)
      const remote = withConfig(version, text.replace('criSocket: /var/run/dockershim.sock', 'criSocket: unix:///var/run/dockershim.sock'))
      expect(remote.code).toBe(1)
      expect(remote.stderr).toMatch(/\[ERROR CRI\]: container runtime is not running/)
    }
  })
})

describe('kubeadm double: flags of its version', () => {
  it('refuses unknown flags, flags of other versions, and flags kubeadm will not mix with --config', () => {
    expect(kubeadm('v1.30.14', ['init', '--no-such-flag']).stderr).toMatch(/unknown flag: --no-such-flag/)
    expect(kubeadm('v1.21.14', ['init', '--patches', '/tmp/p']).stderr).toMatch(/unknown flag: --patches/)
    // join --dry-run arrived in 1.22 (kubernetes#103027).
    expect(kubeadm('v1.21.14', ['join', '--dry-run', '10.0.0.1:6443']).stderr).toMatch(/unknown flag: --dry-run/)
    expect(kubeadm('v1.22.17', ['join', '--dry-run', '10.0.0.1:6443']).stderr).not.toMatch(/unknown flag/)
    const config = makeConfig({ version: 'v1.30.14', etcd: 'kubeadm' })
    const mixed = withConfig('v1.30.14', renderInitConfig(config, config.hosts[0]), ['--pod-network-cidr', '10.0.0.0/16'])
    expect(mixed.stderr).toMatch(/can not mix '--config' with arguments \[pod-network-cidr\]/)
    expect(withConfig('v1.30.14', renderInitConfig(config, config.hosts[0]), ['--upload-certs']).code).toBe(0)
  })
})

describe('kubeadm double: images', () => {
  it('config images list: kubeadm\'s repository per patch, coredns/coredns from 1.21, the pause kk-action gives the CRI', () => {
    const list = (version: string) => kubeadm(version, ['config', 'images', 'list', '--kubernetes-version', version]).stdout.trim().split('\n')
    expect(list('v1.20.2')).toEqual([
      'k8s.gcr.io/kube-apiserver:v1.20.2', 'k8s.gcr.io/kube-controller-manager:v1.20.2', 'k8s.gcr.io/kube-scheduler:v1.20.2',
      'k8s.gcr.io/kube-proxy:v1.20.2', 'k8s.gcr.io/pause:3.2', 'k8s.gcr.io/etcd:3.4.13-0', 'k8s.gcr.io/coredns:1.7.0',
    ])
    expect(list('v1.30.14')).toContain('registry.k8s.io/coredns/coredns:v1.11.1')
    for (const version of ['v1.20.2', 'v1.23.14', 'v1.23.17', 'v1.24.8', 'v1.30.14', 'v1.31.14', 'v1.35.0']) {
      const sandbox = kubeadmImages(makeConfig({ version }), '3.5.13').sandbox
      expect(list(version), version).toContain(sandbox)
    }
  })

  it('init warns when the CRI\'s sandbox image is not its pause (kubesphere/pause:3.2 on 1.20.2), and not for kk-action\'s', () => {
    const version = 'v1.20.2'
    const config = makeConfig({ version, etcd: 'kubeadm' })
    const run = (sandboxImage: string) => {
      const root = join(scratch, `m${seq++}`)
      const toml = renderContainerdConfig({ version: '1.7.13', sandboxImage, root: '/var/lib/containerd', restrictOomScoreAdj: false, credentials: [] })
      return kubeadm(version, ['init', '--config', join(root, 'k.yaml')], {
        [join(root, 'k.yaml')]: renderInitConfig(config, config.hosts[0]), [join(root, 'containerd-config.toml')]: toml,
      }, root)
    }
    const old = run('kubesphere/pause:3.2')
    expect(old.stderr).toMatch(/the sandbox image "kubesphere\/pause:3\.2" of the container runtime is inconsistent with that used by kubeadm\. It is recommended to use "k8s\.gcr\.io\/pause:3\.2"/)
    const ours = run(kubeadmImages(config, '3.5.13').sandbox)
    expect(ours.code).toBe(0)
    expect(ours.stderr).not.toMatch(/sandbox image/)
  })

  it('a private registry holding KubeKey\'s layout: kk-action\'s config pulls only images that are there', () => {
    const version = 'v1.23.17'
    const config = makeConfig({ version, etcd: 'kubeadm' })
    config.registry.privateRegistry = 'harbor.local'
    const registry = [
      ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'].map((c) => `harbor.local/kubesphere/${c}:${version}`),
      'harbor.local/kubesphere/pause:3.6', 'harbor.local/kubesphere/etcd:v3.5.13', 'harbor.local/coredns/coredns:1.8.6',
    ].join('\n')
    const root = join(scratch, `m${seq++}`)
    const files = (text: string) => ({ [join(root, 'k.yaml')]: text, [join(root, 'state', 'registry-images')]: registry })
    const text = renderInitConfig(config, config.hosts[0], undefined, kubeadmImages(config, '3.5.13'))
    const ok = kubeadm(version, ['init', '--config', join(root, 'k.yaml')], files(text), root)
    expect(ok.stderr).not.toMatch(/ERROR/)
    expect(readFileSync(join(root, 'state', 'images-pulled'), 'utf8')).toContain('harbor.local/coredns/coredns:1.8.6')
    // What kk-action wrote before: no dns section, so kubeadm looks for CoreDNS beside the control-plane images.
    const root2 = join(scratch, `m${seq++}`)
    const before = text.replace(/^dns:\n(?: {2}.*\n)+/m, '')
    const refused = kubeadm(version, ['init', '--config', join(root2, 'k.yaml')], { [join(root2, 'k.yaml')]: before, [join(root2, 'state', 'registry-images')]: registry }, root2)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/\[ERROR ImagePull\]: failed to pull image harbor\.local\/kubesphere\/coredns:v1\.8\.6/)
  })
})

describe('kubeadm double: external etcd version', () => {
  let server: Server
  let port = 0
  const dir = join(scratch, 'etcd-tls')
  let etcdVersion = '3.5.21'
  beforeAll(async () => {
    mkdirSync(dir, { recursive: true })
    execFileSync('sh', ['-c', [
      'openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=etcd-ca -keyout ca.key -out ca.crt',
      'openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=etcd -addext subjectAltName=IP:127.0.0.1 -keyout server.key -out server.csr',
      'printf "subjectAltName=IP:127.0.0.1\\n" > ext && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out server.crt',
    ].join(' && ')], { cwd: dir, stdio: 'ignore' })
    server = createServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.crt')) }, (_req, res) => {
      res.end(JSON.stringify({ etcdserver: etcdVersion, etcdcluster: '3.5.0' }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  })
  afterAll(() => server?.close())

  const external = (): ExternalEtcd => ({
    endpoints: [`https://127.0.0.1:${port}`], caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'),
  })

  it('refuses an etcd below the minimum of its patch: 3.5.21 is fine for v1.33.5, not for v1.33.6 (3.5.24)', async () => {
    const init = (version: string) => {
      const config = makeConfig({ version })
      const root = join(scratch, `m${seq++}`)
      return kubeadmAsync(version, ['init', '--config', join(root, 'k.yaml')], { [join(root, 'k.yaml')]: renderInitConfig(config, config.hosts[0], external()) }, root)
    }
    for (const [version, code] of [['v1.33.5', 0], ['v1.33.6', 1], ['v1.31.14', 1], ['v1.32.9', 0]] as const) {
      const run = await init(version)
      expect(run.code, `${version}: ${run.stderr}`).toBe(code)
      if (code) expect(run.stderr).toMatch(/\[ERROR ExternalEtcdVersion\]: this version of kubeadm only supports external etcd version >= 3\.5\.24\. Current version: 3\.5\.21/)
    }
    etcdVersion = '3.5.24'
    expect((await init('v1.33.6')).code).toBe(0)
  })
})
