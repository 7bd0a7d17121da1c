#!/bin/sh
# Approves pending kubelet serving-certificate CSRs (signer kubernetes.io/kubelet-serving) of the
# bootstrapping workers of boot, and nothing else: the requester must be system:node:<name> of a
# node in this bundle, and every name and address the CSR asks for must be that node's own (its name,
# its internal and external IPs, as the bundle knows them). Run with the admin kubeconfig once the
# workers have started; again after a kubelet requested a new serving certificate. Needs openssl.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kubeconfig="${KUBECONFIG_OVERRIDE:-$here/../kubeconfigs/admin.kubeconfig}"
# USER then the subject alternative names that user's serving certificate may hold.
allowed='system:node:w-0 DNS:w-0 IP:10.1.1.10
system:node:w-1 DNS:w-1 IP:10.1.1.11'
kubectl --kubeconfig "$kubeconfig" get csr \
  -o jsonpath='{range .items[?(@.spec.signerName=="kubernetes.io/kubelet-serving")]}{.metadata.name} {.spec.username} {.status.conditions[0].type}{"\n"}{end}' |
while read -r name user state; do
  [ -z "$state" ] || continue
  own=$(printf '%s\n' "$allowed" | awk -v u="$user" '$1 == u { $1 = ""; print }')
  if [ -z "$own" ]; then
    echo "skipping $name from $user: not a bootstrapping node of this bundle" >&2
    continue
  fi
  wanted=$(kubectl --kubeconfig "$kubeconfig" get csr "$name" -o jsonpath='{.spec.request}' | base64 -d |
    openssl req -noout -text 2>/dev/null | sed -n '/Subject Alternative Name/{n;p;}' | tr ',' '\n' |
    sed 's/^ *//; s/ *$//; s/^IP Address:/IP:/')
  if [ -z "$wanted" ]; then
    echo "skipping $name from $user: it asks for no name or address" >&2
    continue
  fi
  bad=$(printf '%s\n' "$wanted" | while read -r san; do
    case " $own " in *" $san "*) ;; *) printf '%s ' "$san" ;; esac
  done)
  if [ -n "$bad" ]; then
    echo "skipping $name from $user: asks for $bad which are not that node's" >&2
    continue
  fi
  kubectl --kubeconfig "$kubeconfig" certificate approve "$name"
done
