#!/bin/sh
# Applies the cluster manifests of hardway-demo (manifests/NN-*.yaml) in file-name order, with the admin
# kubeconfig of this bundle. Run from anywhere once the apiservers answer:  sh manifests/apply.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kubeconfig="${KUBECONFIG_OVERRIDE:-$here/../kubeconfigs/admin.kubeconfig}"
for manifest in "$here"/[0-9][0-9]-*.yaml; do
  kubectl --kubeconfig "$kubeconfig" apply -f "$manifest"
done
