#!/bin/bash
# hardway install script for node solo-0 (roles: controlplane, etcd, worker) of cluster solo, Kubernetes 1.33.4.
# Run once by cloud-init (runcmd) after write_files; safe to run again. It prepares the host,
# and checks that the image already has every binary (binaries: preinstalled).
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
install -d -m 0750 '/var/log/kubernetes'
install -d -m 0755 '/etc/kubernetes'

log "checking binaries"
for b in 'etcd' 'etcdctl' 'kube-apiserver' 'kube-controller-manager' 'kube-scheduler' 'kubelet' 'kube-proxy' 'containerd' 'runc' '/usr/lib/cni/bridge' ; do
  command -v "$b" >/dev/null || [ -x "$b" ] || { echo "hardway: $b is missing" >&2; exit 1; }
done

# kubelet's resolvConf: systemd-resolved's upstream servers where it runs (not its 127.0.0.53 stub,
# which would loop through CoreDNS), else the system resolv.conf.
if [ -f /run/systemd/resolve/resolv.conf ]; then
  ln -sfn /run/systemd/resolve/resolv.conf /etc/kubernetes/resolv.conf
else
  ln -sfn /etc/resolv.conf /etc/kubernetes/resolv.conf
fi
log "installed; cloud-init now enables and starts: hardway-routes.service, containerd.service, etcd.service, kube-apiserver.service, kube-controller-manager.service, kube-scheduler.service, kubelet.service, kube-proxy.service"
