#!/bin/sh
# Applies the cluster manifests of hardway-demo in order, with the admin kubeconfig of this bundle.
# Run from anywhere once the apiservers answer:  sh manifests/apply.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kubeconfig="${KUBECONFIG_OVERRIDE:-$here/../kubeconfigs/admin.kubeconfig}"
kubectl --kubeconfig "$kubeconfig" apply -f "$here/00-admin-clusterrolebinding.yaml"
kubectl --kubeconfig "$kubeconfig" apply -f "$here/01-apiserver-to-kubelet-rbac.yaml"
kubectl --kubeconfig "$kubeconfig" apply -f "$here/02-coredns.yaml"
