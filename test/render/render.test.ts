/**
 * `kk-action render` in process: the files of every example and of configs that reach the other branches
 * (docker with dockershim, kube-vip, a private registry with a password, NTP, addons, a smoke-test manifest),
 * checked by what reads them on a node: the kubeadm schemas (test/kubeadm-schema), TOML parsed by Python's
 * tomllib and by Debian's containerd 1.6 (`containerd config dump`, config version 2), `haproxy -c`,
 * `systemd-analyze verify`, YAML and JSON parsers.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { describe, expect, it } from 'vitest'
import { preparePlan } from '../../src/core.js'
import { isUserError } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { CREDENTIAL_PLACEHOLDERS } from '../../src/modules/kubeadm-join.js'
import { hostArtifacts, RENDER_INDEX, renderFiles, writeRendered, type RenderedFile } from '../../src/render.js'
import { validateKubeadmFile } from '../kubeadm-schema/index.js'

const repoRoot = join(import.meta.dirname, '..', '..')
const work = mkdtempSync(join(tmpdir(), 'kk-render-test-'))
const PASSWORD = 'render-Secret-9x'
const env = { NODES_PASSWORD: 'example-secret', KK_REGISTRY_PASSWORD: PASSWORD }

function writeConfig(name: string, spec: string): string {
  const dir = join(work, name.replace(/\.yaml$/, ''))
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'smoke.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: smoke}\nspec:\n  containers: [{name: c, image: busybox}]\n')
  writeFileSync(join(dir, 'extra.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n')
  const file = join(dir, name)
  writeFileSync(file, `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: ${name}\nspec:\n${spec}`)
  return file
}

/** docker below 1.24 (dockershim), kube-vip on three control planes, a registry with a password, NTP, addons, a smoke manifest. */
const DOCKER_KUBE_VIP = writeConfig('docker-kube-vip.yaml', `  hosts:
  - {name: cp1, address: 10.9.0.11, internalAddress: 10.9.0.11, password: "\${NODES_PASSWORD}"}
  - {name: cp2, address: 10.9.0.12, internalAddress: 10.9.0.12, password: "\${NODES_PASSWORD}"}
  - {name: cp3, address: 10.9.0.13, internalAddress: 10.9.0.13, password: "\${NODES_PASSWORD}"}
  - {name: w1, address: 10.9.0.21, internalAddress: 10.9.0.21, password: "\${NODES_PASSWORD}"}
  roleGroups:
    etcd: [cp1, cp2, cp3]
    control-plane: [cp1, cp2, cp3]
    worker: [w1]
  controlPlaneEndpoint: {domain: lb.kubesphere.local, address: 10.9.0.100, port: 6443, internalLoadbalancer: kube-vip}
  system:
    ntpServers: [time.example.org]
  kubernetes:
    version: v1.23.17
    containerManager: docker
  network:
    plugin: cilium
  registry:
    privateRegistry: harbor.example.org
    registryMirrors: ["https://mirror.example.org"]
    auths:
      "harbor.example.org":
        username: robot
        password: "\${KK_REGISTRY_PASSWORD}"
  addons:
  - name: extra
    namespace: extra
    sources:
      yaml:
        path: [extra.yaml]
  smokeTest:
    manifest: smoke.yaml
`)

/** containerd 2.x (config version 3) with registry auths, stacked etcd. */
const CONTAINERD_2 = writeConfig('containerd-2.yaml', `  hosts:
  - {name: node1, address: 10.8.0.11, internalAddress: 10.8.0.11, password: "\${NODES_PASSWORD}"}
  roleGroups:
    etcd: [node1]
    control-plane: [node1]
    worker: [node1]
  kubernetes:
    version: v1.34.1
    containerManager: containerd
  etcd:
    type: kubeadm
  network:
    plugin: flannel
  registry:
    insecureRegistries: [registry.example.org:5000]
    auths:
      "registry.example.org:5000":
        username: puller
        password: "\${KK_REGISTRY_PASSWORD}"
`)

const examples = readdirSync(join(repoRoot, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => join(repoRoot, 'examples', f))

async function render(configFile: string, dest = mkdtempSync(join(work, 'out-'))) {
  const { plan, loaded } = await preparePlan({ configFile, logger: silentLogger, preview: true, env })
  const files = renderFiles(plan, loaded.config)
  const summary = writeRendered(files, dest, loaded.secrets, hostArtifacts(plan))
  return { plan, files, summary, dest, at: (file: RenderedFile) => join(dest, file.host, file.path) }
}

function run(command: string, args: string[], input?: string) {
  return spawnSync(command, args, { encoding: 'utf8', input })
}

/** Well-formed stand-ins for the join placeholders, so the schema sees everything else of the document. */
function withJoinValues(text: string): string {
  return text.replace(CREDENTIAL_PLACEHOLDERS.token, 'abcdef.0123456789abcdef')
    .replace(CREDENTIAL_PLACEHOLDERS.caCertHash, `sha256:${'0'.repeat(64)}`)
    .replace(CREDENTIAL_PLACEHOLDERS.certificateKey, 'f'.repeat(64))
}

function problemsOf(rendered: Awaited<ReturnType<typeof render>>): string[] {
  const problems: string[] = []
  const named = (file: RenderedFile, what: string) => problems.push(`${file.host}:${file.path}: ${what}`)
  const tomls: string[] = []
  for (const file of rendered.files) {
    const path = rendered.at(file)
    const text = file.source ? '' : readFileSync(path, 'utf8')
    if ((statSync(path).mode & 0o777) !== file.mode) named(file, `mode ${(statSync(path).mode & 0o777).toString(8)}`)
    if (file.secret && file.mode !== 0o600) named(file, 'holds secrets but is not 0600')
    if (text.includes(PASSWORD)) named(file, 'holds the registry password in clear')
    if (/\/kubeadm-(config|join)\.yaml$/.test(file.path)) {
      for (const problem of validateKubeadmFile(withJoinValues(text))) named(file, problem)
    } else if (file.path.endsWith('.toml')) {
      tomls.push(path)
      if (/^version = 2$/m.test(text)) {
        const dump = run('containerd', ['--config', path, 'config', 'dump'])
        if (dump.status !== 0) named(file, `containerd config dump: ${dump.stderr.trim()}`)
      }
    } else if (file.path.endsWith('haproxy.cfg')) {
      const check = run('haproxy', ['-c', '-f', path])
      if (check.status !== 0) named(file, `haproxy -c: ${check.stdout}${check.stderr}`)
    } else if (file.path.endsWith('.json')) {
      try { JSON.parse(text) } catch (error) { named(file, `JSON: ${(error as Error).message}`) }
    } else if (/\.ya?ml$/.test(file.path) && !file.source) {
      const documents = parseAllDocuments(text)
      for (const document of documents) if (document.errors.length) named(file, `YAML: ${document.errors[0].message}`)
      if (file.path.startsWith('/etc/kubernetes/manifests/') && parse(text)?.kind !== 'Pod') named(file, 'a static pod manifest that is not a Pod')
    } else if (/\.(service|socket|timer)$/.test(file.path)) {
      problems.push(...verifyUnit(rendered, file))
    } else if (file.path === '/etc/etcd.env') {
      for (const line of text.split('\n')) if (line && !line.startsWith('#') && !/^[A-Z_]+=\S+$/.test(line)) named(file, `not KEY=value: ${line}`)
    }
  }
  if (tomls.length) {
    const parsed = run('python3', ['-c', 'import sys, tomllib\nfor p in sys.argv[1:]:\n  try:\n    tomllib.load(open(p, "rb"))\n  except Exception as e:\n    print(p, e)', ...tomls])
    if (parsed.status !== 0 || parsed.stdout.trim()) problems.push(`TOML: ${parsed.stdout}${parsed.stderr}`)
  }
  return problems
}

/**
 * systemd's own reading of a unit (with its drop-ins folded in, as systemd merges them); the binaries
 * kk-action installs in /usr/local/bin are absent here, which is the one complaint allowed.
 */
function verifyUnit(rendered: Awaited<ReturnType<typeof render>>, file: RenderedFile): string[] {
  const dropIns = rendered.files.filter((f) => f.host === file.host && f.path.startsWith(`${file.path}.d/`))
  const dir = mkdtempSync(join(work, 'unit-'))
  const unit = join(dir, file.path.split('/').pop()!)
  writeFileSync(unit, [readFileSync(rendered.at(file), 'utf8'), ...dropIns.map((d) => readFileSync(rendered.at(d), 'utf8'))].join('\n'))
  // The host's other units beside it: a socket names its service, a timer its service.
  const companions = rendered.files.filter((f) => f.host === file.host && f !== file && /^\/etc\/systemd\/system\/[^/]+\.(service|socket)$/.test(f.path))
  for (const companion of companions) writeFileSync(join(dir, companion.path.split('/').pop()!), readFileSync(rendered.at(companion), 'utf8'))
  const verify = run('systemd-analyze', ['verify', unit])
  return `${verify.stdout}${verify.stderr}`.split('\n').filter(Boolean)
    .filter((line) => !/Command \/usr\/local\/(s?bin)\/\S+ is not executable: No such file or directory/.test(line))
    .map((line) => `${file.host}:${file.path}: systemd-analyze: ${line}`)
}

describe('kk-action render: every file is valid for what reads it on the node', () => {
  for (const config of [...examples, DOCKER_KUBE_VIP, CONTAINERD_2]) {
    it(config.split('/').pop()!, async () => {
      const rendered = await render(config)
      expect(rendered.files.length).toBeGreaterThan(10)
      expect(problemsOf(rendered)).toEqual([])
      // The first control plane always gets the kubeadm configuration; every Kubernetes node a kubelet unit.
      const first = rendered.plan.modules.find((m) => m.id === 'kubeadm-init')!.hosts[0]
      expect(rendered.files.some((f) => f.host === first && f.path === '/etc/kubernetes/kubeadm-config.yaml')).toBe(true)
      for (const host of rendered.plan.modules.find((m) => m.id === 'sync-binaries')!.hosts) {
        expect(rendered.files.some((f) => f.host === host && f.path === '/etc/systemd/system/kubelet.service')).toBe(true)
      }
    })
  }
})

describe('kk-action render: what only the run or the node knows, and secrets', () => {
  it('joins show the token, CA hash and certificate key as placeholders; the file is 0600 and noted as removed', async () => {
    const rendered = await render(DOCKER_KUBE_VIP)
    const join = rendered.files.find((f) => f.host === 'cp2' && f.path === '/etc/kubernetes/kubeadm-join.yaml')!
    const text = readFileSync(rendered.at(join), 'utf8')
    for (const value of Object.values(CREDENTIAL_PLACEHOLDERS)) expect(text).toContain(value)
    expect(join).toMatchObject({ mode: 0o600, secret: true, modules: ['join-control-plane'], note: expect.stringMatching(/removed/) })
    const worker = readFileSync(rendered.at(rendered.files.find((f) => f.host === 'w1' && f.path === join.path)!), 'utf8')
    expect(worker).toContain(CREDENTIAL_PLACEHOLDERS.token)
    expect(worker).not.toContain(CREDENTIAL_PLACEHOLDERS.certificateKey)
  })

  it('registry passwords are placeholders in daemon/config files, visible also where the node gets base64', async () => {
    for (const config of [DOCKER_KUBE_VIP, CONTAINERD_2]) {
      const rendered = await render(config)
      const pull = rendered.files.find((f) => f.path === '/var/lib/kubelet/config.json')!
      const auths = JSON.parse(readFileSync(rendered.at(pull), 'utf8')).auths as Record<string, { auth: string }>
      expect(Object.values(auths)[0].auth).toMatch(/^<secret: base64 of "(robot|puller):" and the password of spec\.registry\.auths for /)
      expect(pull.mode).toBe(0o600)
      for (const file of rendered.files) if (!file.source) expect(readFileSync(rendered.at(file), 'utf8')).not.toContain(PASSWORD)
      expect(readFileSync(join(rendered.dest, RENDER_INDEX), 'utf8')).not.toContain(PASSWORD)
    }
    const containerd = await render(CONTAINERD_2)
    const toml = readFileSync(containerd.at(containerd.files.find((f) => f.path === '/etc/containerd/config.toml')!), 'utf8')
    expect(toml).toContain('password = "<secret: the password of spec.registry.auths for registry.example.org:5000>"')
  })

  it('the etcd PKI, the VIP interface and /etc/hosts show what the node or the run decides', async () => {
    const rendered = await render(DOCKER_KUBE_VIP)
    const key = rendered.files.find((f) => f.host === 'cp1' && f.path === '/etc/ssl/etcd/ssl/node-cp1-key.pem')!
    expect(key).toMatchObject({ mode: 0o600, modules: ['etcd', 'kubeadm-init'] })
    expect(readFileSync(rendered.at(key), 'utf8')).toMatch(/^<private key made by kk-action during the deploy>/)
    const vip = readFileSync(rendered.at(rendered.files.find((f) => f.host === 'cp2' && f.path === '/etc/kubernetes/manifests/kube-vip.yaml')!), 'utf8')
    expect(vip).toContain('value: "<the interface that holds internalAddress, looked up on the node>"')
    const hosts = readFileSync(rendered.at(rendered.files.find((f) => f.host === 'w1' && f.path === '/etc/hosts')!), 'utf8')
    expect(hosts).toMatch(/^# <the node's own \/etc\/hosts lines stay here>\n# kk-action hosts BEGIN\n/)
    // Files copied from the runner as they are: the addon's manifest, the smoke-test manifest.
    const addon = rendered.files.find((f) => f.path.startsWith('/etc/kubekey/addons/extra/'))!
    expect(readFileSync(rendered.at(addon), 'utf8')).toContain('name: extra')
    expect(rendered.files.some((f) => f.host === 'cp1' && f.path === '/etc/kubernetes/kk-action-smoke-test/smoke.yaml')).toBe(true)
  })

  it('any other ${ENV} value of the config found in a file is masked and named; short common words are left alone', async () => {
    const file = writeConfig('env-user.yaml', `  hosts:
  - {name: node1, address: 10.7.0.11, internalAddress: 10.7.0.11, user: "\${KK_SHORT}"}
  roleGroups: {etcd: [node1], control-plane: [node1], worker: [node1]}
  kubernetes: {version: v1.30.14, containerManager: containerd}
  network: {plugin: none}
  registry:
    auths:
      "harbor.example.org": {username: "\${KK_REGISTRY_USER}", password: "\${KK_REGISTRY_PASSWORD}"}
`)
    const { plan, loaded } = await preparePlan({
      configFile: file, logger: silentLogger, preview: true, env: { ...env, KK_REGISTRY_USER: 'robot-user-7', KK_SHORT: 'root' },
    })
    const dest = mkdtempSync(join(work, 'env-'))
    const summary = writeRendered(renderFiles(plan, loaded.config), dest, loaded.secrets)
    expect(summary.masked).toEqual(['node1:/etc/containerd/config.toml', 'node1:/var/lib/kubelet/config.json'])
    const toml = readFileSync(join(dest, 'node1/etc/containerd/config.toml'), 'utf8')
    expect(toml).toContain('username = "<secret from the config>"')
    expect(toml).toContain('root = "/var/lib/containerd"')
    expect(readFileSync(join(dest, 'node1/var/lib/kubelet/config.json'), 'utf8')).not.toContain('robot-user-7')
  })

  it('the index lists per host the artifacts its modules send it (names, versions, sums), which are not rendered', async () => {
    const rendered = await render(examples.find((f) => f.endsWith('ha-haproxy.yaml'))!)
    const index = JSON.parse(readFileSync(join(rendered.dest, RENDER_INDEX), 'utf8')) as { artifacts: Record<string, Array<{ name: string; sha256: string }>> }
    expect(index.artifacts.master1.map((a) => a.name).sort()).toEqual(
      ['calico', 'calicoctl', 'cni-plugins', 'containerd', 'crictl', 'etcd', 'helm', 'kubeadm', 'kubectl', 'kubelet', 'runc'])
    expect(index.artifacts.worker1.map((a) => a.name).sort()).toEqual(['cni-plugins', 'containerd', 'crictl', 'kubeadm', 'kubectl', 'kubelet', 'runc'])
    for (const artifact of index.artifacts.worker1) expect(artifact.sha256).toMatch(/^[0-9a-f]{64}$/)
  })

  it('a render into an earlier render replaces it; a directory with other files is refused', async () => {
    const dest = mkdtempSync(join(work, 'again-'))
    await render(DOCKER_KUBE_VIP, dest)
    await render(CONTAINERD_2, dest)
    expect(readdirSync(dest).sort()).toEqual([RENDER_INDEX, 'node1'])
    const other = mkdtempSync(join(work, 'other-'))
    writeFileSync(join(other, 'mine.txt'), 'keep me')
    const refused = await render(CONTAINERD_2, other).catch((error: unknown) => error)
    expect(isUserError(refused) && refused.message).toMatch(/is not empty and holds no earlier render/)
    expect(readFileSync(join(other, 'mine.txt'), 'utf8')).toBe('keep me')
  })

  it('never follows a symbolic link in DIR, for writing or for removing an earlier render', async () => {
    const outside = mkdtempSync(join(work, 'outside-'))
    writeFileSync(join(outside, 'hosts'), 'mine\n')
    const dest = mkdtempSync(join(work, 'links-'))
    await render(CONTAINERD_2, dest)
    // A checked-out render whose node1/etc was replaced by a link elsewhere.
    const etc = join(dest, 'node1', 'etc')
    const moved = mkdtempSync(join(work, 'moved-'))
    renameSync(etc, join(moved, 'etc'))
    symlinkSync(outside, etc)
    const refused = await render(CONTAINERD_2, dest).catch((error: unknown) => error)
    expect(isUserError(refused) && refused.message).toMatch(/is a symbolic link/)
    expect(readFileSync(join(outside, 'hosts'), 'utf8')).toBe('mine\n')
    expect(existsSync(join(outside, 'hostname'))).toBe(false)
  })
})
