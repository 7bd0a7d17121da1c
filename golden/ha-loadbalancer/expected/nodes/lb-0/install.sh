#!/bin/bash
# hardway install script for node lb-0 (roles: loadbalancer) of cluster ha, Kubernetes 1.36.2.
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

log "checking binaries"
for b in 'haproxy' ; do
  command -v "$b" >/dev/null || [ -x "$b" ] || { echo "hardway: $b is missing" >&2; exit 1; }
done
log "installed; cloud-init now enables and starts: haproxy.service"
