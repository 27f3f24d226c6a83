#!/bin/bash
# Runs as PID 1 of a fresh pid/mount/uts/ipc/cgroup namespace (started by testnodes.ts through
# `nsenter --net unshare ...`): builds the node's filesystem view, then execs its init.
# Args: NAME NODE_DIR INIT(systemd|tini) [CHECKOUT]
set -euo pipefail
name=$1 dir=$2 init=$3 checkout=${4:-}
# Read before /tmp is replaced: the work dir may live there.
hierarchies=$(cat "$dir/cgroup-hierarchies")

mount --make-rprivate /
# design.md §5 lists etc..srv; mnt and media too, so test mounts stay inside the node.
for d in etc usr opt var home root srv mnt media; do
  mkdir -p "$dir/upper/$d" "$dir/work/$d"
  mount -t overlay "kk-$name-$d" -o "lowerdir=/$d,upperdir=$dir/upper/$d,workdir=$dir/work/$d" "/$d"
done
# containerd's overlay snapshotter and docker's overlay2 cannot live on overlayfs: real directories.
for d in containerd docker; do
  mkdir -p "$dir/lib-$d" "/var/lib/$d"
  mount --bind "$dir/lib-$d" "/var/lib/$d"
done
# The checkout (fixtures, bundles, images the tests hand to nodes) stays visible at its own path, also when it
# lives under /tmp or /run, which the node gets fresh: held on a mount point of the node's own meanwhile.
if [ -n "$checkout" ] && [ -d "$checkout" ]; then
  mkdir -p /mnt/.kk-checkout
  mount --bind "$checkout" /mnt/.kk-checkout
fi
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
if mountpoint -q /mnt/.kk-checkout; then
  mkdir -p "$checkout"
  mount --move /mnt/.kk-checkout "$checkout"
fi
mkdir -p /run/sshd /run/lock
# A fresh cgroup view rooted at the node's own cgroup (the cgroup namespace makes new mounts start there).
if [ "$hierarchies" = "unified cgroup2 -" ]; then
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
else
  mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
  while read -r sub type options; do
    mkdir -p "/sys/fs/cgroup/$sub"
    if [ "$type" = cgroup2 ]; then mount -t cgroup2 cgroup2 "/sys/fs/cgroup/$sub"
    else mount -t cgroup -o "$options" cgroup "/sys/fs/cgroup/$sub"; fi
  done <<< "$hierarchies"
fi
hostname "$name"
exec env -i container=kk-testnode PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  $( [ "$init" = systemd ] && echo /lib/systemd/systemd --system || echo /usr/bin/tini -s -- /usr/sbin/sshd -D -e )
