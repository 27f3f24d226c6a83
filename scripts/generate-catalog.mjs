#!/usr/bin/env node
// Generates src/artifacts/catalog.json from the checksum tables in ../shared/data (or the paths given):
//   node scripts/generate-catalog.mjs [kubekey-components.json] [kubespray-checksums.yml] [kubespray-history-checksums.json]
// Sources:
//   - KubeKey v3.1.12 version/components.json: {component: {arch: {version: sha256}}}; versions with "v".
//   - kubespray roles/kubespray_defaults/vars/main/checksums.yml: <component>_checksums:
//     {arch: {version: "sha256:<hex>"}}; versions without "v".
//   - kubespray-history-checksums.json: the union of those tables over kubespray's whole git history
//     {<component>_checksums: {arch: {version: hex}}} (Kubernetes v1.10–v1.36): older patches the other two lack.
// Rerun after refreshing either file. A version present in both with different sums is an error.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const kubekeyFile = process.argv[2] ?? join(root, '../shared/data/kubekey-v3.1.12-components.json')
const kubesprayFile = process.argv[3] ?? join(root, '../shared/data/kubespray-checksums.yml')
const historyFile = process.argv[4] ?? join(root, '../shared/data/kubespray-history-checksums.json')
const outFile = join(root, 'src/artifacts/catalog.json')
const ARCHES = ['amd64', 'arm64']
const GH = 'https://github.com'

// name → upstream layout, and the keys of the source tables. Kubernetes binaries keep the "v"; the history adds only
// what KubeKey deploys (Kubernetes from 1.19) and what the URL template names (historyFrom).
const ARTIFACTS = {
  kubeadm: { kubekey: 'kubeadm', kubespray: 'kubeadm_checksums', historyFrom: '1.19.0', vPrefix: true, format: 'binary',
    url: 'https://dl.k8s.io/release/{version}/bin/linux/{arch}/kubeadm' },
  kubelet: { kubekey: 'kubelet', kubespray: 'kubelet_checksums', historyFrom: '1.19.0', vPrefix: true, format: 'binary',
    url: 'https://dl.k8s.io/release/{version}/bin/linux/{arch}/kubelet' },
  kubectl: { kubekey: 'kubectl', kubespray: 'kubectl_checksums', historyFrom: '1.19.0', vPrefix: true, format: 'binary',
    url: 'https://dl.k8s.io/release/{version}/bin/linux/{arch}/kubectl' },
  containerd: { kubekey: 'containerd', kubespray: 'containerd_archive_checksums', format: 'tar.gz',
    url: `${GH}/containerd/containerd/releases/download/v{version}/containerd-{version}-linux-{arch}.tar.gz`,
    members: ['bin/containerd', 'bin/containerd-shim-runc-v2', 'bin/ctr'] },
  runc: { kubekey: 'runc', kubespray: 'runc_checksums', format: 'binary',
    url: `${GH}/opencontainers/runc/releases/download/v{version}/runc.{arch}` },
  crictl: { kubekey: 'crictl', kubespray: 'crictl_checksums', history: ['crictl_checksums', 'crictl_binary_checksums'], format: 'tar.gz',
    url: `${GH}/kubernetes-sigs/cri-tools/releases/download/v{version}/crictl-v{version}-linux-{arch}.tar.gz`,
    members: ['crictl'] },
  docker: { kubekey: 'docker', format: 'tar.gz',
    url: 'https://download.docker.com/linux/static/stable/{uname}/docker-{version}.tgz',
    members: ['docker/docker', 'docker/dockerd', 'docker/containerd', 'docker/containerd-shim-runc-v2',
      'docker/ctr', 'docker/runc', 'docker/docker-init', 'docker/docker-proxy'] },
  'cri-dockerd': { kubekey: 'cri-dockerd', kubespray: 'cri_dockerd_archive_checksums', format: 'tar.gz',
    url: `${GH}/Mirantis/cri-dockerd/releases/download/v{version}/cri-dockerd-{version}.{arch}.tgz`,
    members: ['cri-dockerd/cri-dockerd'] },
  etcd: { kubekey: 'etcd', kubespray: 'etcd_binary_checksums', format: 'tar.gz',
    url: `${GH}/etcd-io/etcd/releases/download/v{version}/etcd-v{version}-linux-{arch}.tar.gz`,
    members: ['etcd-v{version}-linux-{arch}/etcd', 'etcd-v{version}-linux-{arch}/etcdctl'] },
  // Before 0.8.0 the CNI archives were named cni-plugins-<arch>-v<version>.tgz: older sums would not match the URL.
  'cni-plugins': { kubekey: 'kubecni', kubespray: 'cni_binary_checksums', historyFrom: '0.8.0', format: 'tar.gz',
    url: `${GH}/containernetworking/plugins/releases/download/v{version}/cni-plugins-linux-{arch}-v{version}.tgz`,
    members: ['./bridge', './host-local', './loopback', './portmap', './bandwidth', './firewall', './tuning'] },
  // calicoctl was released from projectcalico/calicoctl before it moved into the calico repository (v3.22).
  calicoctl: { kubekey: 'calicoctl', kubespray: 'calicoctl_binary_checksums', historyFrom: '3.22.0', format: 'binary',
    url: `${GH}/projectcalico/calico/releases/download/v{version}/calicoctl-linux-{arch}` },
  helm: { kubekey: 'helm', kubespray: 'helm_archive_checksums', format: 'tar.gz',
    url: 'https://get.helm.sh/helm-v{version}-linux-{arch}.tar.gz', members: ['linux-{arch}/helm'] },
  // Network plugins, as their publishers' Helm charts. Neither table has their sums: the plan reads each
  // chart's sha256 (`digest`) from the publisher's repository index, unless a checksums file gives it.
  calico: { format: 'chart', url: `${GH}/projectcalico/calico/releases/download/v{version}/tigera-operator-v{version}.tgz`,
    index: { url: 'https://docs.tigera.io/calico/charts/index.yaml', chart: 'tigera-operator' } },
  flannel: { format: 'chart', url: `${GH}/flannel-io/flannel/releases/download/v{version}/flannel.tgz`,
    index: { url: 'https://flannel-io.github.io/flannel/index.yaml', chart: 'flannel' } },
  cilium: { format: 'chart', url: 'https://helm.cilium.io/cilium-{version}.tgz',
    index: { url: 'https://helm.cilium.io/index.yaml', chart: 'cilium' } },
}

// Default component versions per Kubernetes minor. 1.19–1.32 follow KubeKey v3.1 (one set for every
// Kubernetes it supports) except where that set is outside upstream support: etcd for 1.31–1.32 is the newest 3.5
// (kubeadm's minimum external etcd became 3.5.24 in v1.31.14 and v1.32.10). From 1.33 on, the newest pins kubespray
// carries, crictl matching the minor. Calico (the chart and calicoctl) and Cilium are the newest patch of a release
// whose publisher lists that Kubernetes minor (Calico's "System requirements", Cilium's "Kubernetes compatibility");
// where none is listed (Calico for 1.19–1.20 and 1.36, Cilium for 1.34+) the nearest release is taken.
const KUBEKEY_SET = {
  containerd: '1.7.13', runc: '1.1.12', crictl: '1.29.0', docker: '24.0.9', 'cri-dockerd': '0.3.10',
  etcd: '3.5.13', 'cni-plugins': '1.2.0', calicoctl: '3.27.4', helm: '3.14.3',
}
const FLANNEL = '0.27.4'
// [first minor, last minor, Calico release]
const CALICO = [[19, 23, '3.23'], [24, 26, '3.26'], [27, 27, '3.27'], [28, 28, '3.28'], [29, 29, '3.29'], [30, 31, '3.30'], [32, 99, '3.31']]
// Cilium charts are not in the checksum tables (the plan reads their sums from helm.cilium.io): patches known to be published.
const CILIUM = [[19, 26, '1.13.4'], [27, 27, '1.14.5'], [28, 29, '1.15.3'], [30, 32, '1.17.6'], [33, 99, '1.18.2']]
function ciliumFor(minor) {
  return CILIUM.find(([from, to]) => minor >= from && minor <= to)[2]
}
function calicoFor(minor, versionsOf) {
  const release = CALICO.find(([from, to]) => minor >= from && minor <= to)[2]
  return newest(versionsOf('calicoctl'), `${release}.`)
}
function defaultsFor(minor, versionsOf) {
  const set = { ...binaryDefaultsFor(minor, versionsOf), calicoctl: calicoFor(minor, versionsOf) }
  return { ...set, calico: set.calicoctl, flannel: FLANNEL, cilium: ciliumFor(minor) }
}
function binaryDefaultsFor(minor, versionsOf) {
  if (minor <= 30) return KUBEKEY_SET
  if (minor <= 32) return { ...KUBEKEY_SET, etcd: newest(versionsOf('etcd'), '3.5.') }
  return {
    containerd: newest(versionsOf('containerd'), '2.'),
    runc: newest(versionsOf('runc'), '1.'),
    crictl: newest(versionsOf('crictl'), `1.${minor}.`) ?? newest(versionsOf('crictl'), '1.'),
    docker: KUBEKEY_SET.docker,
    'cri-dockerd': newest(versionsOf('cri-dockerd'), '0.3.'),
    etcd: newest(versionsOf('etcd'), minor >= 34 ? '3.6.' : '3.5.'),
    'cni-plugins': newest(versionsOf('cni-plugins'), '1.'),
    calicoctl: newest(versionsOf('calicoctl'), '3.'),
    helm: newest(versionsOf('helm'), '3.'),
  }
}

function compareVersions(a, b) {
  const pa = a.replace(/^v/, '').split(/[.-]/).map(Number)
  const pb = b.replace(/^v/, '').split(/[.-]/).map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}
function newest(versions, prefix) {
  return versions.filter((v) => v.startsWith(prefix)).sort(compareVersions).at(-1)
}

function readSources() {
  const kubekey = JSON.parse(readFileSync(kubekeyFile, 'utf8'))
  const kubespray = parse(readFileSync(kubesprayFile, 'utf8'))
  const history = JSON.parse(readFileSync(historyFile, 'utf8'))
  return { kubekey, kubespray, history }
}

// Where the sources disagree, which one holds the sum of the upstream file (checked against a third party's pin):
// KubeKey's helm 3.14.3 sums are not those of the release tarballs (3c90f24e… is, for linux-amd64), and kubespray
// once pinned kubectl v1.27.13 arm64 with v1.27.12's sum (bfc6cb71…).
const PREFER = {
  'helm 3.14.3 amd64': 'kubespray history', 'helm 3.14.3 arm64': 'kubespray history',
  'kubectl v1.27.13 arm64': 'kubekey',
}

// Pre-releases (1.17.0-rc.1) are not deployable defaults and have no place in the catalog.
const RELEASE = /^v?\d+\.\d+\.\d+$/

function collect({ kubekey, kubespray, history }) {
  const problems = []
  const artifacts = {}
  for (const [name, spec] of Object.entries(ARTIFACTS)) {
    const versions = {}
    const add = (source, rawVersion, arch, rawSum) => {
      if (!ARCHES.includes(arch)) return
      const bare = String(rawVersion).replace(/^v/, '')
      const version = spec.vPrefix ? `v${bare}` : bare
      const sum = String(rawSum).replace(/^sha256:/, '').toLowerCase()
      if (!/^[0-9a-f]{64}$/.test(sum)) return problems.push(`${source}: ${name} ${version} ${arch}: not a sha256: ${rawSum}`)
      const entry = (versions[version] ??= {})
      const sources = (chosenFrom[`${version} ${arch}`] ??= [])
      if (entry[arch] && entry[arch] !== sum) {
        const prefer = PREFER[`${name} ${version} ${arch}`]
        if (!prefer) return problems.push(`${name} ${version} ${arch}: the sources disagree (${sources.join(', ')} vs ${source})`)
        if (prefer !== source) return
      }
      sources.push(source)
      entry[arch] = sum
    }
    const chosenFrom = {}
    for (const [arch, table] of Object.entries((spec.kubekey && kubekey[spec.kubekey]) ?? {}))
      for (const [version, sum] of Object.entries(table)) add('kubekey', version, arch, sum)
    for (const [arch, table] of Object.entries((spec.kubespray && kubespray[spec.kubespray]) ?? {}))
      for (const [version, sum] of Object.entries(table ?? {})) if (sum) add('kubespray', version, arch, sum)
    // A sum the history holds for a version KubeKey or kubespray's current table also has must be the same.
    const historyKeys = spec.history ?? (spec.kubespray ? [spec.kubespray] : [])
    for (const key of historyKeys) {
      for (const [arch, table] of Object.entries(history[key] ?? {})) {
        for (const [version, sum] of Object.entries(table ?? {})) {
          if (!sum || !RELEASE.test(version) || (spec.historyFrom && compareVersions(version, spec.historyFrom) < 0)) continue
          add('kubespray history', version, arch, sum)
        }
      }
    }
    const sorted = Object.fromEntries(Object.keys(versions).sort(compareVersions).map((v) => [v, versions[v]]))
    artifacts[name] = {
      url: spec.url,
      format: spec.format,
      ...(spec.members ? { members: spec.members } : {}),
      versions: sorted,
      ...(spec.index ? { index: spec.index } : {}),
    }
  }
  return { artifacts, problems }
}

function buildDefaults(artifacts, problems) {
  const kubeMinors = new Set(Object.keys(artifacts.kubeadm.versions).map((v) => Number(v.split('.')[1])))
  const bothArches = (name) => Object.entries(artifacts[name].versions)
    .filter(([, sums]) => ARCHES.every((a) => sums[a])).map(([v]) => v)
  const defaults = {}
  for (const minor of [...kubeMinors].sort((a, b) => a - b)) {
    const set = defaultsFor(minor, bothArches)
    for (const [name, version] of Object.entries(set)) {
      if (artifacts[name].index && version) continue
      if (!version || !ARCHES.every((a) => artifacts[name].versions[version]?.[a]))
        problems.push(`default ${name} ${version} for Kubernetes 1.${minor} has no sha256 for every arch`)
    }
    defaults[`1.${minor}`] = set
  }
  return defaults
}

const { artifacts, problems } = collect(readSources())
const defaults = buildDefaults(artifacts, problems)
if (problems.length) {
  console.error(`catalog not written:\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
const catalog = {
  sources: [
    `${basename(kubekeyFile)} (KubeKey version/components.json)`,
    `${basename(kubesprayFile)} (kubespray roles/kubespray_defaults/vars/main/checksums.yml)`,
    `${basename(historyFile)} (every checksums table in kubespray's git history)`,
  ],
  artifacts,
  defaults,
}
writeFileSync(outFile, JSON.stringify(catalog, null, 1) + '\n')
const counts = Object.entries(artifacts).map(([n, a]) => `${n} ${Object.keys(a.versions).length}`).join(', ')
console.error(`wrote ${outFile}: ${counts}; defaults for Kubernetes ${Object.keys(defaults)[0]}–${Object.keys(defaults).at(-1)}`)
