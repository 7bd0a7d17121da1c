#!/bin/bash
# Routes to every worker's pod range through that worker (table: /etc/hardway/pod-routes), skipping the
# ranges this node owns. Run at boot by hardway-routes.service; safe to run again.
set -euo pipefail
mapfile -t local_ips < <(ip -o addr show | awk '{ split($4, a, "/"); print a[1] }')
while read -r cidr via node; do
  case "$cidr" in '' | '#'*) continue ;; esac
  for ip in "${local_ips[@]}"; do
    [ "$ip" = "$via" ] && continue 2
  done
  ip route replace "$cidr" via "$via"
  echo "hardway: route $cidr via $via ($node)"
done < /etc/hardway/pod-routes
