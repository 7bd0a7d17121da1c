#!/bin/bash
# hardway install script for node solo-0 (roles: controlplane, etcd, worker) of cluster solo, Kubernetes 1.33.4.
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
install -d -m 0750 '/var/log/kubernetes'
install -d -m 0755 '/var/lib/kubelet'
install -d -m 0700 '/var/lib/kubelet/pki'

step "binaries"
# Each unit's binary at its path: a binaries.paths one must exist, else the first in the search path is linked.
find_binary() {
  local name=$1 want=$2 d
  if [ -x "$want" ]; then log "$name: $want"; return 0; fi
  for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin /opt/bin; do
    if [ -x "$d/$name" ]; then
      install -d "${want%/*}"
      ln -sfn "$d/$name" "$want"
      log "$name: $d/$name, linked at $want"
      return 0
    fi
  done
  echo "hardway: $name is missing: not at $want, nor in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin /opt/bin" >&2
  return 1
}
need() {
  [ -x "$2" ] && return 0
  echo "hardway: $1 is missing: not at $2 (binaries.paths)" >&2
  return 1
}
find_binary 'etcd' '/usr/local/bin/etcd'
find_binary 'etcdctl' '/usr/local/bin/etcdctl'
find_binary 'kube-apiserver' '/usr/local/bin/kube-apiserver'
find_binary 'kube-controller-manager' '/usr/local/bin/kube-controller-manager'
find_binary 'kube-scheduler' '/usr/local/bin/kube-scheduler'
find_binary 'kubelet' '/usr/local/bin/kubelet'
find_binary 'kube-proxy' '/usr/local/bin/kube-proxy'
for b in 'containerd' 'runc' '/usr/lib/cni/bridge' ; do
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
step 'enable and restart etcd.service'
systemctl enable --quiet 'etcd.service'
# Not waited for: a member is ready once a quorum runs, which may be minutes away (README, "Nodes").
systemctl restart --no-block 'etcd.service'
step 'enable and restart kube-apiserver.service'
systemctl enable --quiet 'kube-apiserver.service'
systemctl restart 'kube-apiserver.service'
step 'enable and restart kube-controller-manager.service'
systemctl enable --quiet 'kube-controller-manager.service'
systemctl restart 'kube-controller-manager.service'
step 'enable and restart kube-scheduler.service'
systemctl enable --quiet 'kube-scheduler.service'
systemctl restart 'kube-scheduler.service'
step 'enable and restart kubelet.service'
systemctl enable --quiet 'kubelet.service'
systemctl restart 'kubelet.service'
step 'enable and restart kube-proxy.service'
systemctl enable --quiet 'kube-proxy.service'
systemctl restart 'kube-proxy.service'
echo ok > "$status"
log "done: hardway-routes.service, containerd.service, etcd.service, kube-apiserver.service, kube-controller-manager.service, kube-scheduler.service, kubelet.service, kube-proxy.service enabled and running"
