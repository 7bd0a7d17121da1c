#!/bin/sh
# Approves pending kubelet serving-certificate CSRs (signer kubernetes.io/kubelet-serving) of the
# bootstrapping workers of boot, and nothing else: the requester must be system:node:<name> of a
# node in this bundle. Run after the workers have started, with the admin kubeconfig.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kubeconfig="${KUBECONFIG_OVERRIDE:-$here/../kubeconfigs/admin.kubeconfig}"
nodes=' system:node:w-0 system:node:w-1 '
kubectl --kubeconfig "$kubeconfig" get csr \
  -o jsonpath='{range .items[?(@.spec.signerName=="kubernetes.io/kubelet-serving")]}{.metadata.name} {.spec.username} {.status.conditions[0].type}{"\n"}{end}' |
while read -r name user state; do
  [ -z "$state" ] || continue
  case "$nodes" in
    *" $user "*) kubectl --kubeconfig "$kubeconfig" certificate approve "$name" ;;
    *) echo "skipping $name from $user: not a node of this bundle" >&2 ;;
  esac
done
