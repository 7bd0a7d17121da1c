#!/bin/sh
# Applies the cluster manifests of hardway-demo (manifests/NN-*.yaml) in file-name order. Run from anywhere
# once the apiservers answer.
#
# On a fresh cluster the admin kubeconfig (group kubeadm:cluster-admins) has no rights until the binding in
# 00-admin-clusterrolebinding.yaml exists, so that manifest is applied with the break-glass super-admin kubeconfig,
# which you name explicitly (it never leaves your hands otherwise):
#
#   sh manifests/apply.sh --bootstrap break-glass/super-admin.kubeconfig
#
# Everything else, and every later run, uses the admin kubeconfig:  sh manifests/apply.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
admin="${KUBECONFIG_OVERRIDE:-$here/../kubeconfigs/admin.kubeconfig}"
bootstrap=
while [ $# -gt 0 ]; do
  case "$1" in
    --bootstrap) [ $# -ge 2 ] || { echo "apply.sh: --bootstrap needs the super-admin kubeconfig" >&2; exit 2; }
      bootstrap=$2; shift 2 ;;
    --bootstrap=*) bootstrap=${1#--bootstrap=}; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "apply.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$bootstrap" ] && [ ! -f "$bootstrap" ]; then
  echo "apply.sh: $bootstrap: no such kubeconfig" >&2
  exit 2
fi
for manifest in "$here"/[0-9][0-9]-*.yaml; do
  kubeconfig=$admin
  case "${manifest##*/}" in
    00-admin-clusterrolebinding.yaml) [ -n "$bootstrap" ] && kubeconfig=$bootstrap ;;
  esac
  if ! kubectl --kubeconfig "$kubeconfig" apply -f "$manifest"; then
    if [ "$kubeconfig" = "$admin" ] && [ -z "$bootstrap" ]; then
      echo "apply.sh: applying ${manifest##*/} as admin failed; on a fresh cluster run: sh $0 --bootstrap break-glass/super-admin.kubeconfig" >&2
    fi
    exit 1
  fi
done
