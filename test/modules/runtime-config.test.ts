/**
 * What the container runtime modules write, without nodes: the pause image per Kubernetes version, containerd's
 * config for 1.x (version 2) and 2.x (version 3), registry hosts, and the rejection of registry values that
 * could break out of a path, TOML or a unit file. TOML is read back by real parsers: containerd's own
 * (`containerd config dump`, Debian's 1.6 here) and Python's tomllib, when they are installed.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import type { ClusterConfig } from '../../src/config/types.js'
import { UserError } from '../../src/errors.js'
import { configVersionFor, renderContainerdConfig, type ContainerdSettings } from '../../src/modules/runtime-containerd-config.js'
import { kubeadmImages, pauseImage, pauseTag } from '../../src/modules/runtime-images.js'
import {
  dockerRegistrySettings, parseMirrorUrl, parseRegistry, registryCredentials, registryHosts, renderHostsToml, tomlString,
} from '../../src/modules/runtime-registry.js'
import { dataDirFromSpec } from '../../src/modules/runtime-service.js'
import { makeConfig } from '../plan/make-config.js'
import { checkContainerdConfig } from '../support/containerd-config-check.js'

const scratch = mkdtempSync(join(tmpdir(), 'kk-runtime-config-'))

function hasTool(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0
}
const tomllib = hasTool('python3', ['-c', 'import tomllib'])
const containerdBinary = hasTool('containerd', ['--version'])

/** Parsed TOML, indexed freely by the assertions (leaves are compared with toBe/toEqual). */
interface TomlTable { [key: string]: TomlTable }

/** TOML → JS through Python's tomllib (a parser that is not ours). */
function parseToml(text: string): TomlTable {
  return JSON.parse(execFileSync('python3', ['-c', 'import json,sys,tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))'], { input: text, encoding: 'utf8' }))
}

function withRegistry(registry: Partial<ClusterConfig['registry']>, version = 'v1.30.1'): ClusterConfig {
  const config = makeConfig({ version })
  config.registry = { ...config.registry, ...registry }
  return config
}

const settings = (overrides: Partial<ContainerdSettings> = {}): ContainerdSettings => ({
  version: '1.7.13', sandboxImage: 'kubesphere/pause:3.9', root: '/var/lib/containerd', restrictOomScoreAdj: false,
  credentials: [], ...overrides,
})

describe('pause image', () => {
  it('follows kubeadm per Kubernetes minor, and the nearest end of the table outside it', () => {
    expect(['v1.18.20', 'v1.21.3', 'v1.24.0', 'v1.25.9', 'v1.26.13', 'v1.30.1', 'v1.31.0', 'v1.33.1', 'v1.34.0', 'v1.40.0'].map(pauseTag))
      .toEqual(['3.2', '3.4.1', '3.7', '3.8', '3.9', '3.9', '3.10', '3.10', '3.10.1', '3.10.1'])
  })

  it('without a private registry: the pause kubeadm itself pulls, from its default repository for that patch', () => {
    // kubeadm moved its default from k8s.gcr.io to registry.k8s.io in 1.25.0, backported to 1.24.9 and 1.23.15.
    expect(['v1.20.2', 'v1.22.17', 'v1.23.14', 'v1.23.15', 'v1.24.8', 'v1.24.9', 'v1.25.0', 'v1.30.1', 'v1.31.2']
      .map((v) => pauseImage(withRegistry({}, v)))).toEqual([
      'k8s.gcr.io/pause:3.2', 'k8s.gcr.io/pause:3.5', 'k8s.gcr.io/pause:3.6', 'registry.k8s.io/pause:3.6', 'k8s.gcr.io/pause:3.7',
      'registry.k8s.io/pause:3.7', 'registry.k8s.io/pause:3.8', 'registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.10',
    ])
  })

  it('with a private registry: KubeKey\'s layout, under the namespace override when there is one', () => {
    expect(pauseImage(withRegistry({ privateRegistry: 'https://harbor.local:5000/' }, 'v1.31.2'))).toBe('harbor.local:5000/kubesphere/pause:3.10')
    expect(pauseImage(withRegistry({ privateRegistry: 'harbor.local', namespaceOverride: 'mirror/k8s' }))).toBe('harbor.local/mirror/k8s/pause:3.9')
  })

  it('CoreDNS and stacked etcd in a private registry where KubeKey puts them (coredns/coredns, <namespace>/etcd)', () => {
    const stacked = (registry: Partial<ClusterConfig['registry']>, version: string) => {
      const config = withRegistry(registry, version)
      config.etcd.type = 'kubeadm'
      return config
    }
    expect(kubeadmImages(stacked({ privateRegistry: 'harbor.local' }, 'v1.23.17'), '3.5.13')).toEqual({
      repository: 'harbor.local/kubesphere', sandbox: 'harbor.local/kubesphere/pause:3.6',
      dns: { imageRepository: 'harbor.local/coredns', imageTag: '1.8.6' },
      etcd: { imageRepository: 'harbor.local/kubesphere', imageTag: 'v3.5.13' },
    })
    const old = stacked({ privateRegistry: 'harbor.local', namespaceOverride: 'k8s' }, 'v1.20.2')
    expect(kubeadmImages(old, '3.5.13').dns).toEqual({ imageRepository: 'harbor.local/k8s', imageTag: '1.8.0' })
    old.kubernetes.containerManager = 'docker'
    expect(kubeadmImages(old, '3.5.13').dns).toEqual({ imageRepository: 'harbor.local/k8s', imageTag: '1.6.9' })
    expect(kubeadmImages(withRegistry({ privateRegistry: 'harbor.local' }, 'v1.30.1'), '3.5.13').etcd).toBeUndefined()
    expect(kubeadmImages(withRegistry({}, 'v1.30.1'), '3.5.13')).toEqual({ sandbox: 'registry.k8s.io/pause:3.9' })
  })

  it('refuses a registry that would smuggle systemd or shell syntax into a unit', () => {
    expect(() => pauseImage(withRegistry({ privateRegistry: 'harbor.local/$HOME' }))).toThrow(UserError)
    expect(() => pauseImage(withRegistry({ privateRegistry: 'harbor.local --debug' }))).toThrow(/spec\.registry\.privateRegistry/)
  })
})

describe('containerd config.toml', () => {
  it('is version 2 for containerd 1.x and version 3 from 2.0', () => {
    expect(['1.6.20', '1.7.13', 'v1.7.27', '2.0.0', '2.3.4'].map(configVersionFor)).toEqual([2, 2, 2, 3, 3])
  })

  it.skipIf(!tomllib)('version 2: CRI settings under io.containerd.grpc.v1.cri', () => {
    const credentials = [{ host: 'harbor.local', username: 'robot$ci', password: 'p"w\\d\nx' }]
    const toml = parseToml(renderContainerdConfig(settings({ restrictOomScoreAdj: true, credentials, root: '/data/containerd' })))
    expect(toml.version).toBe(2)
    expect(toml.root).toBe('/data/containerd')
    const cri = toml.plugins['io.containerd.grpc.v1.cri']
    expect(cri.sandbox_image).toBe('kubesphere/pause:3.9')
    expect(cri.restrict_oom_score_adj).toBe(true)
    expect(cri.containerd.default_runtime_name).toBe('runc')
    expect(cri.containerd.runtimes.runc).toEqual({ runtime_type: 'io.containerd.runc.v2', options: { SystemdCgroup: true } })
    expect(cri.registry.config_path).toBe('/etc/containerd/certs.d')
    expect(cri.registry).not.toHaveProperty('mirrors')
    expect(cri.registry.configs['harbor.local'].auth).toEqual({ username: 'robot$ci', password: 'p"w\\d\nx' })
  })

  it.skipIf(!tomllib)('version 3: the sandbox is a pinned image, runtime settings under cri.v1.runtime', () => {
    const credentials = [{ host: 'harbor.local:8443', username: 'u', password: 'p' }]
    const toml = parseToml(renderContainerdConfig(settings({ version: '2.3.4', sandboxImage: 'kubesphere/pause:3.10', restrictOomScoreAdj: true, credentials })))
    expect(toml.version).toBe(3)
    expect(toml.plugins).not.toHaveProperty('io.containerd.grpc.v1.cri')
    const images = toml.plugins['io.containerd.cri.v1.images']
    const runtime = toml.plugins['io.containerd.cri.v1.runtime']
    expect(images.pinned_images).toEqual({ sandbox: 'kubesphere/pause:3.10' })
    expect(images.registry.config_path).toBe('/etc/containerd/certs.d')
    expect(images.registry.configs['harbor.local:8443'].auth).toEqual({ username: 'u', password: 'p' })
    expect(runtime.restrict_oom_score_adj).toBe(true)
    expect(runtime.containerd.runtimes.runc.options.SystemdCgroup).toBe(true)
    expect(runtime.cni).toEqual({ bin_dirs: ['/opt/cni/bin'], conf_dir: '/etc/cni/net.d' })
    // 2.0 knows only the single bin_dir.
    const first = parseToml(renderContainerdConfig(settings({ version: '2.0.5' })))
    expect(first.plugins['io.containerd.cri.v1.runtime'].cni).toEqual({ bin_dir: '/opt/cni/bin', conf_dir: '/etc/cni/net.d' })
  })

  it('every key is one the containerd release reads (checked per version: 1.6, 1.7, 2.0, 2.1, 2.3)', () => {
    const credentials = [{ host: 'harbor.local', username: 'u', password: 'p' }]
    for (const version of ['1.6.20', '1.7.13', '2.0.5', '2.1.4', '2.3.4']) {
      expect(checkContainerdConfig(version, renderContainerdConfig(settings({ version, credentials }))), version).toEqual([])
    }
  })

  it('the checker refuses a config written for another containerd', () => {
    const v2 = renderContainerdConfig(settings({ version: '1.7.13' }))
    const v3 = renderContainerdConfig(settings({ version: '2.1.4' }))
    expect(checkContainerdConfig('1.7.13', v3)).toContainEqual(expect.stringMatching(/reads config version 1 or 2, not 3/))
    expect(checkContainerdConfig('2.0.5', v3)).toContainEqual(expect.stringMatching(/cni\.bin_dirs is not one it reads/))
    expect(checkContainerdConfig('2.1.4', v3.replace('version = 3', 'version = 3\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "x"')))
      .toContainEqual(expect.stringMatching(/grpc\.v1\.cri"\.sandbox_image is not one it reads/))
    expect(checkContainerdConfig('2.1.4', v2)).toEqual([])
  })

  it.skipIf(!containerdBinary)('version 2 is read by a real containerd 1.x as intended', () => {
    const file = join(scratch, 'config.toml')
    writeFileSync(file, renderContainerdConfig(settings({ version: '1.6.20', credentials: [{ host: 'harbor.local', username: 'a', password: 'b' }] })))
    const dump = execFileSync('containerd', ['-c', file, 'config', 'dump'], { encoding: 'utf8' })
    expect(dump).toMatch(/^\s+sandbox_image = "kubesphere\/pause:3\.9"$/m)
    expect(dump).toMatch(/^\s+SystemdCgroup = true$/m)
    expect(dump).toMatch(/^\s+restrict_oom_score_adj = false$/m)
    expect(dump).toMatch(/^\s+config_path = "\/etc\/containerd\/certs\.d"$/m)
    expect(dump).toMatch(/\[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\.configs\."harbor\.local"\.auth\]\n\s+auth = ""\n\s+identitytoken = ""\n\s+password = "b"/)
  })
})

describe('registry hosts (certs.d)', () => {
  it('puts mirrors in front of Docker Hub, and lets insecure registries fall back to plain HTTP', () => {
    const hosts = registryHosts(withRegistry({
      registryMirrors: ['https://mirror.local/', 'http://10.0.0.5:5000'],
      insecureRegistries: ['registry.local:5000', 'http://plain.local'],
    }))
    expect(hosts).toEqual([
      { host: 'docker.io', server: 'https://registry-1.docker.io', endpoints: [
        { url: 'https://mirror.local', capabilities: ['pull', 'resolve'] },
        { url: 'http://10.0.0.5:5000', capabilities: ['pull', 'resolve'] },
      ] },
      { host: 'plain.local', server: 'http://plain.local', endpoints: [] },
      { host: 'registry.local:5000', server: 'http://registry.local:5000', endpoints: [
        { url: 'https://registry.local:5000', capabilities: ['pull', 'resolve', 'push'], skipVerify: true },
      ] },
    ])
  })

  it('takes TLS settings and certificates from auths, merged with the same insecure registry', () => {
    const config = withRegistry({
      insecureRegistries: ['harbor.local'],
      auths: {
        'harbor.local': { username: 'u', password: 'p', certsPath: '/etc/harbor-certs' },
        'plain.local:80': { plainHTTP: true },
        'onlycreds.local': { username: 'x', password: 'y' },
      },
    })
    const certs = new Map([['/etc/harbor-certs', { ca: ['/etc/harbor-certs/ca.crt'], client: [['/etc/harbor-certs/c.cert', '/etc/harbor-certs/c.key'] as [string, string]] }]])
    const hosts = registryHosts(config, certs)
    expect(hosts.map((h) => h.host)).toEqual(['harbor.local', 'plain.local:80'])
    expect(renderHostsToml(hosts[0])).toBe([
      '# Written by kk-action from spec.registry; changes here are replaced on the next deploy.',
      'server = "http://harbor.local"',
      '',
      '[host."https://harbor.local"]',
      '  capabilities = ["pull", "resolve", "push"]',
      '  skip_verify = true',
      '  ca = ["/etc/harbor-certs/ca.crt"]',
      '  client = [["/etc/harbor-certs/c.cert", "/etc/harbor-certs/c.key"]]',
      '',
    ].join('\n'))
    expect(hosts[1].server).toBe('http://plain.local:80')
    expect(registryCredentials(config)).toEqual([
      { host: 'harbor.local', username: 'u', password: 'p' },
      { host: 'onlycreds.local', username: 'x', password: 'y' },
    ])
  })

  it.skipIf(!tomllib)('renders hosts.toml that parses to the same endpoints', () => {
    const [hub] = registryHosts(withRegistry({ registryMirrors: ['https://mirror.local'] }))
    expect(parseToml(renderHostsToml(hub))).toEqual({
      server: 'https://registry-1.docker.io',
      host: { 'https://mirror.local': { capabilities: ['pull', 'resolve'] } },
    })
  })

  it('refuses values that are not registry hosts or mirror URLs, naming the field', () => {
    const cases: Array<[Partial<ClusterConfig['registry']>, RegExp]> = [
      [{ insecureRegistries: ['../../etc'] }, /spec\.registry\.insecureRegistries\[0\]/],
      [{ insecureRegistries: ['ok.local', 'bad host'] }, /spec\.registry\.insecureRegistries\[1\]/],
      [{ registryMirrors: ['ftp://mirror.local'] }, /spec\.registry\.registryMirrors\[0\]/],
      [{ registryMirrors: ['https://user:pw@mirror.local'] }, /no credentials/],
      [{ auths: { 'a"b': { plainHTTP: true } } }, /spec\.registry\.auths\.a"b/],
    ]
    for (const [registry, message] of cases) expect(() => registryHosts(withRegistry(registry))).toThrow(message)
    expect(parseRegistry('HARBOR.Local:443', 'f')).toEqual({ host: 'harbor.local:443', scheme: undefined })
    expect(parseMirrorUrl('https://m.local/v2/', 'f')).toBe('https://m.local/v2')
  })

  it('escapes TOML strings, DEL included', () => {
    expect(tomlString('a"b\\c\n\x7f')).toBe('"a\\"b\\\\c\\n\\u007f"')
  })
})

describe('docker daemon.json settings and data directories', () => {
  it('lists mirrors as URLs and insecure registries (also auths over HTTP or without TLS checks) as hosts', () => {
    const config = withRegistry({
      registryMirrors: ['https://mirror.local/'],
      insecureRegistries: ['http://registry.local:5000'],
      auths: { 'harbor.local': { skipTLSVerify: true }, 'registry.local:5000': { plainHTTP: true }, 'safe.local': { username: 'u' } },
    })
    expect(dockerRegistrySettings(config)).toEqual({
      mirrors: ['https://mirror.local'],
      insecure: ['registry.local:5000', 'harbor.local'],
    })
  })

  it('reads KubeKey data directories from the config file, refusing relative paths', () => {
    const file = join(scratch, 'cluster.yaml')
    writeFileSync(file, [
      'apiVersion: kubekey.kubesphere.io/v1alpha2', 'kind: Cluster', 'spec:',
      '  hosts: [{name: node1, address: 10.0.0.2}]',
      '  roleGroups: {etcd: [node1], control-plane: [node1], worker: [node1]}',
      '  registry: {dockerDataDir: /data/docker/, containerdDataDir: relative/dir}', '',
    ].join('\n'))
    const { config } = loadConfig(file)
    expect(dataDirFromSpec(config, 'dockerDataDir')).toBe('/data/docker')
    expect(() => dataDirFromSpec(config, 'containerdDataDir')).toThrow(/spec\.registry\.containerdDataDir/)
    expect(dataDirFromSpec(makeConfig(), 'dockerDataDir')).toBeUndefined()
  })
})
