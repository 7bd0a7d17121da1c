#!/bin/bash
# hardway install script for node etcd-1 (roles: etcd) of cluster ha, Kubernetes 1.36.2.
# Run once by cloud-init (runcmd) after write_files; safe to run again. It prepares the host,
# downloads every binary and checks its sha256 before installing it.
set -euo pipefail
log() { echo "hardway: $*"; }

log "host prerequisites: swap off (now and after reboot), kernel modules, sysctls"
swapoff -a
sed -i -E '/^[^#].*[[:space:]]swap[[:space:]]/ s/^/#hardway-swap-off: /' /etc/fstab
systemctl mask swap.target >/dev/null 2>&1 || true
modprobe overlay
modprobe br_netfilter
sysctl --system >/dev/null
install -d -m 0700 '/var/lib/etcd'

# fetch URL DEST SHA256 SUMS_URL: download, then verify against SHA256 (pinned in the topology) or, when
# empty, against the checksum published at SUMS_URL beside the file (guards against corruption and
# truncation; pin checksums in the topology to guard against a compromised mirror too).
fetch() {
  local url=$1 dest=$2 want=$3 sums=$4 name
  name=${url##*/}
  curl -fsSL --retry 5 --retry-delay 2 --connect-timeout 20 -o "$dest" "$url"
  if [ -z "$want" ]; then
    want=$(curl -fsSL --retry 5 --retry-delay 2 --connect-timeout 20 "$sums" \
      | awk -v f="$name" 'NF == 1 { print $1; exit } $2 == f || $2 == "*" f || $2 == "./" f { print $1; exit }')
  fi
  if [ -z "$want" ]; then
    echo "hardway: no sha256 for $name" >&2
    exit 1
  fi
  echo "$want  $dest" | sha256sum -c --quiet - || { echo "hardway: sha256 mismatch for $url" >&2; exit 1; }
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log 'etcd 3.6.6 (amd64)'
fetch 'https://github.com/etcd-io/etcd/releases/download/v3.6.6/etcd-v3.6.6-linux-amd64.tar.gz' "$tmp/etcd-v3.6.6-linux-amd64.tar.gz" '' 'https://github.com/etcd-io/etcd/releases/download/v3.6.6/SHA256SUMS'
tar -xzf "$tmp/etcd-v3.6.6-linux-amd64.tar.gz" -C "$tmp"
install -m 0755 "$tmp/etcd-v3.6.6-linux-amd64/etcd" "$tmp/etcd-v3.6.6-linux-amd64/etcdctl" /usr/local/bin/

log "checking binaries"
for b in 'etcd' 'etcdctl' ; do
  command -v "$b" >/dev/null || [ -x "$b" ] || { echo "hardway: $b is missing" >&2; exit 1; }
done
log "installed; cloud-init now enables and starts: etcd.service"
