#!/bin/bash
# hardway install script for node worker-b (roles: worker) of cluster ext-etcd, Kubernetes 1.37.0.
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
install -d -m 0755 '/etc/kubernetes'
install -d -m 0755 '/opt/cni/bin'

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

log 'kubectl 1.37.0 (arm64)'
fetch 'https://mirror.ext-etcd.example/kubernetes/release/v1.37.0/bin/linux/arm64/kubectl' "$tmp/kubectl" '' 'https://mirror.ext-etcd.example/kubernetes/release/v1.37.0/bin/linux/arm64/kubectl.sha256'
install -m 0755 "$tmp/kubectl" /usr/local/bin/kubectl

log 'kubelet 1.37.0 (arm64)'
fetch 'https://mirror.ext-etcd.example/kubernetes/release/v1.37.0/bin/linux/arm64/kubelet' "$tmp/kubelet" '0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9' 'https://mirror.ext-etcd.example/kubernetes/release/v1.37.0/bin/linux/arm64/kubelet.sha256'
install -m 0755 "$tmp/kubelet" /usr/local/bin/kubelet

log 'kube-proxy 1.37.0 (arm64)'
fetch 'https://mirror.ext-etcd.example/kubernetes/release/v1.37.0/bin/linux/arm64/kube-proxy' "$tmp/kube-proxy" '' 'https://mirror.ext-etcd.example/kubernetes/release/v1.37.0/bin/linux/arm64/kube-proxy.sha256'
install -m 0755 "$tmp/kube-proxy" /usr/local/bin/kube-proxy

log 'containerd 2.1.5 (arm64)'
fetch 'https://github.com/containerd/containerd/releases/download/v2.1.5/containerd-2.1.5-linux-arm64.tar.gz' "$tmp/containerd-2.1.5-linux-arm64.tar.gz" '' 'https://github.com/containerd/containerd/releases/download/v2.1.5/containerd-2.1.5-linux-arm64.tar.gz.sha256sum'
tar -xzf "$tmp/containerd-2.1.5-linux-arm64.tar.gz" -C /usr/local

log 'runc 1.3.4 (arm64)'
fetch 'https://github.com/opencontainers/runc/releases/download/v1.3.4/runc.arm64' "$tmp/runc.arm64" '' 'https://github.com/opencontainers/runc/releases/download/v1.3.4/runc.sha256sum'
install -m 0755 "$tmp/runc.arm64" /usr/local/sbin/runc

log 'cni-plugins 1.6.2 (arm64)'
fetch 'https://github.com/containernetworking/plugins/releases/download/v1.6.2/cni-plugins-linux-arm64-v1.6.2.tgz' "$tmp/cni-plugins-linux-arm64-v1.6.2.tgz" '' 'https://github.com/containernetworking/plugins/releases/download/v1.6.2/cni-plugins-linux-arm64-v1.6.2.tgz.sha256'
tar -xzf "$tmp/cni-plugins-linux-arm64-v1.6.2.tgz" -C /opt/cni/bin

log 'crictl 1.37.0 (arm64)'
fetch 'https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.37.0/crictl-v1.37.0-linux-arm64.tar.gz' "$tmp/crictl-v1.37.0-linux-arm64.tar.gz" '' 'https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.37.0/crictl-v1.37.0-linux-arm64.tar.gz.sha256'
tar -xzf "$tmp/crictl-v1.37.0-linux-arm64.tar.gz" -C /usr/local/bin crictl

log "checking binaries"
for b in 'kubelet' 'kube-proxy' 'containerd' 'runc' '/opt/cni/bin/bridge' ; do
  command -v "$b" >/dev/null || [ -x "$b" ] || { echo "hardway: $b is missing" >&2; exit 1; }
done

# kubelet's resolvConf: systemd-resolved's upstream servers where it runs (not its 127.0.0.53 stub,
# which would loop through CoreDNS), else the system resolv.conf.
if [ -f /run/systemd/resolve/resolv.conf ]; then
  ln -sfn /run/systemd/resolve/resolv.conf /etc/kubernetes/resolv.conf
else
  ln -sfn /etc/resolv.conf /etc/kubernetes/resolv.conf
fi
log "installed; cloud-init now enables and starts: hardway-routes.service, containerd.service, kubelet.service, kube-proxy.service"
