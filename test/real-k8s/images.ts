/**
 * Container images for the real Kubernetes v1.20.2 tests, built locally from the binaries of build.sh and
 * Debian's packages (nothing is pulled). The list of control-plane images is the one the real kubeadm
 * prints (`kubeadm config images list`), so a kubeadm that wants another image fails as it would upstream.
 *
 * - kube-apiserver, kube-controller-manager, kube-scheduler: the static binaries.
 * - kube-proxy: the binary plus Debian's iptables (nft), conntrack and ipset with their libraries.
 * - pause: the pause binary built from the Kubernetes tree.
 * - etcd: Debian's etcd-server (3.4.23) under the tag kubeadm asks for (3.4.13-0 for v1.20).
 * - coredns: a STAND-IN, not CoreDNS (Debian has none): busybox httpd answering the Deployment's probes
 *   (/health on 8080, /ready on 8181). It serves no DNS, so in-cluster name lookups do not work.
 * - haproxy: Debian's haproxy under KubeKey's image name, for the internal load balancer.
 * - the workload image is the busybox fixture (test/fixtures/images/busybox-image.ts).
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { writeImageTar, type BuiltImage } from '../fixtures/images/image-tar.js'
import { buildBusyboxImage } from '../fixtures/images/busybox-image.js'

export const HAPROXY_IMAGE = 'docker.io/library/haproxy:2.9.6-alpine'

/** Shared libraries of a dynamically linked binary, as ldd resolves them (empty for static binaries). */
function libraries(binary: string): string[] {
  let out: string
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return [] // "not a dynamic executable"
  }
  return out.split('\n').map((line) => /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)?.[1]).filter((p): p is string => !!p)
}

/** Copies a file to the same absolute path under rootfs (symlinks as symlinks, their targets too). */
function copyInto(rootfs: string, path: string, as = path): void {
  const dest = join(rootfs, as)
  if (existsSync(dest)) return
  mkdirSync(dirname(dest), { recursive: true })
  if (lstatSync(path).isSymbolicLink()) {
    const target = readlinkSync(path)
    symlinkSync(target, dest)
    copyInto(rootfs, target.startsWith('/') ? target : join(dirname(path), target))
    return
  }
  copyFileSync(path, dest)
  chmodSync(dest, lstatSync(path).mode & 0o7777)
}

function copyWithLibraries(rootfs: string, binary: string, as = binary): void {
  copyInto(rootfs, binary, as)
  for (const lib of libraries(binary)) copyInto(rootfs, lib)
}

function newRootfs(work: string, name: string): string {
  const rootfs = join(work, name)
  rmSync(rootfs, { recursive: true, force: true })
  for (const dir of ['dev', 'proc', 'sys', 'tmp', 'etc', 'run', 'var/run']) mkdirSync(join(rootfs, dir), { recursive: true })
  chmodSync(join(rootfs, 'tmp'), 0o1777)
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n')
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n')
  writeFileSync(join(rootfs, 'etc/nsswitch.conf'), 'hosts: files dns\n')
  return rootfs
}

type Builder = (rootfs: string) => Omit<Parameters<typeof writeImageTar>[2], 'name'>

function staticBinary(bin: string): Builder {
  return (rootfs) => {
    copyInto(rootfs, bin, `/usr/local/bin/${bin.split('/').pop()}`)
    return { createdBy: `kk-action real-k8s fixture: ${bin.split('/').pop()} v1.20.2 built from Debian's kubernetes source` }
  }
}

function kubeProxy(bins: string): Builder {
  return (rootfs) => {
    copyInto(rootfs, join(bins, 'kube-proxy'), '/usr/local/bin/kube-proxy')
    copyWithLibraries(rootfs, '/usr/sbin/xtables-nft-multi')
    for (const tool of ['iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore']) {
      symlinkSync('xtables-nft-multi', join(rootfs, 'usr/sbin', tool))
    }
    const extensions = '/usr/lib/x86_64-linux-gnu/xtables'
    for (const ext of readdirSync(extensions)) copyWithLibraries(rootfs, join(extensions, ext))
    copyWithLibraries(rootfs, '/usr/sbin/conntrack')
    copyWithLibraries(rootfs, '/usr/sbin/ipset')
    return { createdBy: "kk-action real-k8s fixture: kube-proxy v1.20.2 with Debian's iptables (nft), conntrack and ipset" }
  }
}

function pause(bins: string): Builder {
  return (rootfs) => {
    copyInto(rootfs, join(bins, 'pause'), '/pause')
    return { entrypoint: ['/pause'], createdBy: 'kk-action real-k8s fixture: pause.c from the Kubernetes v1.20.2 tree' }
  }
}

const etcd: Builder = (rootfs) => {
  copyWithLibraries(rootfs, '/usr/bin/etcd', '/usr/local/bin/etcd')
  return { createdBy: "kk-action real-k8s fixture: Debian's etcd-server under kubeadm's etcd tag" }
}

/** NOT CoreDNS: answers the probes of kubeadm's CoreDNS Deployment and nothing else. */
const corednsStandIn: Builder = (rootfs) => {
  copyInto(rootfs, '/bin/busybox', '/bin/busybox')
  for (const applet of ['sh', 'httpd']) symlinkSync('busybox', join(rootfs, 'bin', applet))
  for (const [dir, file] of [['www/health', 'health'], ['www/ready', 'ready']]) {
    mkdirSync(join(rootfs, dir), { recursive: true })
    writeFileSync(join(rootfs, dir, file), 'OK\n')
  }
  writeFileSync(join(rootfs, 'coredns'), [
    '#!/bin/sh',
    '# kk-action STAND-IN for CoreDNS: answers /health (8080) and /ready (8181); serves no DNS.',
    'httpd -f -p 8080 -h /www/health &',
    'exec httpd -f -p 8181 -h /www/ready',
    '',
  ].join('\n'))
  chmodSync(join(rootfs, 'coredns'), 0o755)
  return { entrypoint: ['/coredns'], createdBy: 'kk-action real-k8s fixture: a stand-in for CoreDNS (busybox httpd), no DNS' }
}

const haproxy: Builder = (rootfs) => {
  copyWithLibraries(rootfs, '/usr/sbin/haproxy', '/usr/local/sbin/haproxy')
  mkdirSync(join(rootfs, 'usr/local/etc/haproxy'), { recursive: true })
  return { cmd: ['haproxy', '-f', '/usr/local/etc/haproxy/haproxy.cfg'], createdBy: "kk-action real-k8s fixture: Debian's haproxy" }
}

/** The builder for each image kubeadm v1.20 lists, by repository name (the part after the last /). */
function builders(bins: string): Record<string, Builder> {
  return {
    'kube-apiserver': staticBinary(join(bins, 'kube-apiserver')),
    'kube-controller-manager': staticBinary(join(bins, 'kube-controller-manager')),
    'kube-scheduler': staticBinary(join(bins, 'kube-scheduler')),
    'kube-proxy': kubeProxy(bins),
    pause: pause(bins),
    etcd,
    coredns: corednsStandIn,
  }
}

export interface KubernetesImages {
  /** kubeadm's own list, e.g. k8s.gcr.io/kube-apiserver:v1.20.2 … k8s.gcr.io/coredns:1.7.0. */
  kubeadm: BuiltImage[]
  haproxy: BuiltImage
  workload: BuiltImage
}

/** Builds every image into `outDir` (image tars named after their references). */
export function buildKubernetesImages(bins: string, outDir: string): KubernetesImages {
  mkdirSync(outDir, { recursive: true })
  const work = join(outDir, 'work')
  const list = execFileSync(join(bins, 'kubeadm'), ['config', 'images', 'list', '--kubernetes-version', 'v1.20.2'], { encoding: 'utf8' })
    .split('\n').map((l) => l.trim()).filter(Boolean)
  const byName = builders(bins)
  const build = (ref: string, builder: Builder): BuiltImage => {
    const rootfs = newRootfs(work, ref.replace(/[^A-Za-z0-9.-]+/g, '_'))
    const config = builder(rootfs)
    return writeImageTar(rootfs, join(outDir, `${ref.replace(/[^A-Za-z0-9.-]+/g, '_')}.tar`), { name: ref, ...config })
  }
  const kubeadm = list.map((ref) => {
    const repo = ref.slice(ref.lastIndexOf('/') + 1).split(':')[0]
    const builder = byName[repo]
    if (!builder) throw new Error(`kubeadm lists ${ref}, which the real-k8s fixture cannot build`)
    return build(ref, builder)
  })
  const result = { kubeadm, haproxy: build(HAPROXY_IMAGE, haproxy), workload: buildBusyboxImage(join(outDir, 'busybox.tar')) }
  rmSync(work, { recursive: true, force: true })
  return result
}
