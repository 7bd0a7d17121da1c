#!/bin/bash
# hardway install script for node etcd-3 (roles: etcd) of cluster ha, Kubernetes 1.36.2.
# Run by cloud-init after write_files; safe to run again. Outcome in /var/lib/hardway/status: "ok" or
# "failed: STEP" (a failed step stops the rest). The bundle's README.md, "Nodes", says more.
set -Eeuo pipefail
status='/var/lib/hardway/status'
step=start
log() { echo "hardway: $*"; }
step() { step=$*; log "$*"; echo "running: $step" > "$status"; }
failed() {
  local rc=$?
  echo "hardway: FAILED (exit $rc) at step: $step" >&2
  echo "failed: $step" > "$status"
  exit "$rc"
}
trap failed ERR
mkdir -p "${status%/*}"

# In a system container (LXD, nspawn) the host's steps are skipped with a message; elsewhere they must succeed.
container=
if systemd-detect-virt --container --quiet 2>/dev/null; then
  container=$(systemd-detect-virt --container)
  log "running in a container ($container): host-level steps are skipped where the host owns them"
fi
skip() { log "skipped in the container: $*"; }

step "swap off (now and after reboot)"
if [ -n "$container" ]; then
  skip "swapoff (the host's swap)"
else
  swapoff -a
fi
if [ -f /etc/fstab ]; then
  sed -i -E '/^[^#].*[[:space:]]swap[[:space:]]/ s/^/#hardway-swap-off: /' /etc/fstab
fi
systemctl mask swap.target >/dev/null 2>&1 || true

step "kernel modules: overlay, br_netfilter"
for m in overlay br_netfilter; do
  if modprobe "$m" 2>/dev/null || [ -d "/sys/module/$m" ]; then continue; fi
  if [ -n "$container" ]; then skip "modprobe $m"; continue; fi
  echo "hardway: cannot load kernel module $m" >&2
  false
done

step "sysctls (/etc/sysctl.d/99-kubernetes.conf)"
if [ -n "$container" ]; then
  while IFS= read -r line; do
    case "$line" in '' | '#'*) continue ;; esac
    setting=${line// /}
    sysctl -q -w "$setting" >/dev/null 2>&1 || skip "sysctl ${setting%%=*}"
  done < '/etc/sysctl.d/99-kubernetes.conf'
else
  sysctl -q -p '/etc/sysctl.d/99-kubernetes.conf'
fi

step "directories"
install -d -m 0755 '/etc/kubernetes'
install -d -m 0700 '/etc/kubernetes/pki'
install -d -m 0700 '/etc/kubernetes/pki/etcd'
install -d -m 0700 '/var/lib/etcd'

# fetch URL DEST SHA256 SUMS_URL: download; check against SHA256 (topology pin), else the published SUMS_URL.
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
    return 1
  fi
  echo "$want  $dest" | sha256sum -c --quiet - || { echo "hardway: sha256 mismatch for $url" >&2; return 1; }
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step 'download etcd 3.6.8 (amd64)'
fetch 'https://github.com/etcd-io/etcd/releases/download/v3.6.8/etcd-v3.6.8-linux-amd64.tar.gz' "$tmp"/'etcd-v3.6.8-linux-amd64.tar.gz' '' 'https://github.com/etcd-io/etcd/releases/download/v3.6.8/SHA256SUMS'
tar -xzf "$tmp"/'etcd-v3.6.8-linux-amd64.tar.gz' -C "$tmp"
install -m 0755 "$tmp"/'etcd-v3.6.8-linux-amd64/etcd' "$tmp"/'etcd-v3.6.8-linux-amd64/etcdctl' /usr/local/bin/

step "binaries"
need() {
  [ -x "$2" ] && return 0
  echo "hardway: $1 is missing: not at $2" >&2
  return 1
}
need 'etcd' '/usr/local/bin/etcd'
need 'etcdctl' '/usr/local/bin/etcdctl'
for b in ; do
  command -v "$b" >/dev/null || [ -x "$b" ] || { echo "hardway: $b is missing" >&2; false; }
done

# Units in dependency order; restart, not start: a distribution unit of the same name may already run.
step "systemd daemon-reload"
systemctl daemon-reload
step 'enable and restart etcd.service'
systemctl enable --quiet 'etcd.service'
# Not waited for: a member is ready once a quorum runs, which may be minutes away (README, "Nodes").
systemctl restart --no-block 'etcd.service'
echo ok > "$status"
log "done: etcd.service enabled and running"
