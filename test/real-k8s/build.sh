#!/usr/bin/env bash
# Builds Kubernetes v1.20.2 (kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager,
# kube-scheduler, kube-proxy), the pause binary and kk-crictl (a stand-in for cri-tools' crictl) from
# Debian bookworm's `kubernetes` source package with Debian's Go, for the real-Kubernetes tests.
#
# The result is cached outside the clone, keyed by the source package's sha256 and this directory's
# scripts, so a second run on the same machine only prints the directory:
#   bash test/real-k8s/build.sh               builds if needed, prints e.g. /var/cache/kk-action/real-k8s/<key>/bin
#   bash test/real-k8s/build.sh --cached-only prints it only when built already, else exits 3
set -euo pipefail
cached_only=; [ "${1:-}" = --cached-only ] && cached_only=1
here=$(cd "$(dirname "$0")" && pwd)
root=${KK_REAL_K8S_CACHE:-/var/cache/kk-action/real-k8s}
log() { printf '[real-k8s build %s] %s\n' "$(date +%T)" "$*" >&2; }

version=v1.20.2
commit=faecb196815e248d3ecfb03c680a4507229c2a56
build_date=2021-01-13T13:20:00Z
binaries=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

export DEBIAN_FRONTEND=noninteractive
tools=(golang-go make rsync gcc libc6-dev dpkg-dev golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev)
missing=()
for p in "${tools[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done

src_list=/etc/apt/sources.list.d/kk-action-deb-src.sources
if [ -z "$cached_only" ] && ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  log "adding a deb-src line for bookworm ($src_list)"
  cat >"$src_list" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi

sources=$root/source
mkdir -p "$sources"
have_source() { ls "$sources"/kubernetes_*.orig.tar.gz "$sources"/kubernetes_*.debian.tar.xz >/dev/null 2>&1; }
if [ -z "$cached_only" ]; then
  if [ -n "${need_update:-}" ] || [ ${#missing[@]} -gt 0 ] || ! have_source; then apt-get update -qq; fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! have_source; then
    log "apt-get source kubernetes"
    (cd "$sources" && apt-get source --download-only kubernetes >/dev/null 2>&1)
  fi
fi
have_source && command -v go >/dev/null || exit 3
orig=$(ls "$sources"/kubernetes_*.orig.tar.gz | head -n1)
debian=$(ls "$sources"/kubernetes_*.debian.tar.xz | head -n1)

key=$( { sha256sum "$orig" "$debian" | cut -d' ' -f1; cat "$here/build.sh" "$here/crictl/main.go"; go version; } | sha256sum | cut -c1-16)
out=$root/$key
if [ -f "$out/bin/.complete" ]; then
  echo "$out/bin"
  exit 0
fi
[ -z "$cached_only" ] || exit 3

work=$root/work
rm -rf "$work"
mkdir -p "$work"
log "extracting $(basename "$orig")"
tar xzf "$orig" -C "$work"
tar xJf "$debian" -C "$work"
tree=$work/kubernetes-1.20.2
while read -r patch; do
  [ -n "$patch" ] && [ "${patch#\#}" = "$patch" ] || continue
  patch -s -p1 -d "$tree" <"$work/debian/patches/$patch"
done <"$work/debian/patches/series"

# Go 1.19 against the vendored reflect2 v1.0.1 panics in kubeadm init: use Debian's reflect2 1.0.2 and
# json-iterator 1.1.12, the versions upstream later moved to for new Go releases.
for dep in github.com/modern-go/reflect2 github.com/json-iterator/go; do
  rm -rf "$tree/vendor/$dep"
  cp -r "/usr/share/gocode/src/$dep" "$tree/vendor/$dep"
done

# GOPATH mode, as upstream's hack/lib/init.sh: the vendored module layout does not build with -mod=vendor here.
gopath=$work/gopath
mkdir -p "$gopath/src/k8s.io"
ln -s "$tree" "$gopath/src/k8s.io/kubernetes"
export GOPATH=$gopath GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS=
export GOCACHE=$root/go-cache HOME=$work
cd "$gopath/src/k8s.io/kubernetes"

log "make gen_openapi (the source tarball lacks zz_generated.openapi.go)"
make gen_openapi >"$work/gen_openapi.log" 2>&1 || { tail -20 "$work/gen_openapi.log" >&2; exit 1; }

ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version \
           k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version k8s.io/kubernetes/vendor/k8s.io/component-base/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=20 -X $pkg.gitCommit=$commit"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

stage=$root/$key.partial
rm -rf "$stage"
mkdir -p "$stage/bin"
for b in "${binaries[@]}"; do
  log "go build $b"
  go build -trimpath -ldflags "$ldflags" -o "$stage/bin/$b" "./cmd/$b"
done

log "go build kk-crictl (stand-in for crictl)"
mkdir -p cmd/kk-crictl
cp "$here/crictl/main.go" cmd/kk-crictl/main.go
go build -trimpath -ldflags "-s -w" -o "$stage/bin/crictl" ./cmd/kk-crictl

log "gcc pause"
gcc -Os -static -o "$stage/bin/pause" build/pause/linux/pause.c
strip "$stage/bin/pause"

touch "$stage/bin/.complete"
rm -rf "$out"
mv "$stage" "$out"
cd /
rm -rf "$work"
log "done: $out/bin"
echo "$out/bin"
