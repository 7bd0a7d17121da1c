#!/bin/bash
# hardway install script for node w-1 (roles: worker) of cluster ha, Kubernetes 1.36.2.
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
install -d -m 0755 '/var/lib/kubelet'
install -d -m 0700 '/var/lib/kubelet/pki'
install -d -m 0755 '/opt/cni/bin'

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

step 'download kubectl 1.36.2 (amd64)'
fetch 'https://dl.k8s.io/release/v1.36.2/bin/linux/amd64/kubectl' "$tmp"/'kubectl' '' 'https://dl.k8s.io/release/v1.36.2/bin/linux/amd64/kubectl.sha256'
install -m 0755 "$tmp"/'kubectl' '/usr/local/bin/kubectl'

step 'download kubelet 1.36.2 (amd64)'
fetch 'https://dl.k8s.io/release/v1.36.2/bin/linux/amd64/kubelet' "$tmp"/'kubelet' '' 'https://dl.k8s.io/release/v1.36.2/bin/linux/amd64/kubelet.sha256'
install -m 0755 "$tmp"/'kubelet' '/usr/local/bin/kubelet'

step 'download kube-proxy 1.36.2 (amd64)'
fetch 'https://dl.k8s.io/release/v1.36.2/bin/linux/amd64/kube-proxy' "$tmp"/'kube-proxy' '' 'https://dl.k8s.io/release/v1.36.2/bin/linux/amd64/kube-proxy.sha256'
install -m 0755 "$tmp"/'kube-proxy' '/usr/local/bin/kube-proxy'

step 'download containerd 2.3.7 (amd64)'
fetch 'https://github.com/containerd/containerd/releases/download/v2.3.7/containerd-2.3.7-linux-amd64.tar.gz' "$tmp"/'containerd-2.3.7-linux-amd64.tar.gz' '' 'https://github.com/containerd/containerd/releases/download/v2.3.7/containerd-2.3.7-linux-amd64.tar.gz.sha256sum'
tar -xzf "$tmp"/'containerd-2.3.7-linux-amd64.tar.gz' -C /usr/local

step 'download runc 1.4.4 (amd64)'
fetch 'https://github.com/opencontainers/runc/releases/download/v1.4.4/runc.amd64' "$tmp"/'runc.amd64' '' 'https://github.com/opencontainers/runc/releases/download/v1.4.4/runc.sha256sum'
install -m 0755 "$tmp"/'runc.amd64' /usr/local/sbin/runc

step 'download cni-plugins 1.9.1 (amd64)'
fetch 'https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz' "$tmp"/'cni-plugins-linux-amd64-v1.9.1.tgz' '' 'https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz.sha256'
tar -xzf "$tmp"/'cni-plugins-linux-amd64-v1.9.1.tgz' -C /opt/cni/bin

step 'download crictl 1.36.0 (amd64)'
fetch 'https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.36.0/crictl-v1.36.0-linux-amd64.tar.gz' "$tmp"/'crictl-v1.36.0-linux-amd64.tar.gz' '' 'https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.36.0/crictl-v1.36.0-linux-amd64.tar.gz.sha256'
tar -xzf "$tmp"/'crictl-v1.36.0-linux-amd64.tar.gz' -C /usr/local/bin crictl

step "binaries"
need() {
  [ -x "$2" ] && return 0
  echo "hardway: $1 is missing: not at $2" >&2
  return 1
}
need 'kubelet' '/usr/local/bin/kubelet'
need 'kube-proxy' '/usr/local/bin/kube-proxy'
need 'containerd' '/usr/local/bin/containerd'
for b in 'runc' '/opt/cni/bin/bridge' ; do
  command -v "$b" >/dev/null || [ -x "$b" ] || { echo "hardway: $b is missing" >&2; false; }
done

# kubelet resolvConf: systemd-resolved's upstreams (its 127.0.0.53 stub would loop through CoreDNS).
if [ -f /run/systemd/resolve/resolv.conf ]; then
  ln -sfn /run/systemd/resolve/resolv.conf '/etc/kubernetes/resolv.conf'
else
  ln -sfn /etc/resolv.conf '/etc/kubernetes/resolv.conf'
fi

# Units in dependency order; restart, not start: a distribution unit of the same name may already run.
step "systemd daemon-reload"
systemctl daemon-reload
step 'enable and restart hardway-routes.service'
systemctl enable --quiet 'hardway-routes.service'
systemctl restart 'hardway-routes.service'
step 'enable and restart containerd.service'
systemctl enable --quiet 'containerd.service'
systemctl restart 'containerd.service'
step 'enable and restart kubelet.service'
systemctl enable --quiet 'kubelet.service'
systemctl restart 'kubelet.service'
step 'enable and restart kube-proxy.service'
systemctl enable --quiet 'kube-proxy.service'
systemctl restart 'kube-proxy.service'
echo ok > "$status"
log "done: hardway-routes.service, containerd.service, kubelet.service, kube-proxy.service enabled and running"
