#!/bin/sh
# A stand-in for `kubectl --kubeconfig KC apply -f MANIFEST` that behaves like a fresh cluster's RBAC:
# it logs "MANIFEST SUBJECT" (the client certificate's subject, RFC 2253) to $STANDIN_LOG, lets
# system:masters do anything, and lets group kubeadm:cluster-admins apply only once the admin
# ClusterRoleBinding manifest has been applied (state in $STANDIN_LOG.bound).
set -eu
[ "$1" = --kubeconfig ] && [ "$3" = apply ] && [ "$4" = -f ] || { echo "stand-in: unexpected call: $*" >&2; exit 3; }
kc=$2 manifest=$5
data=$(sed -n 's/^ *client-certificate-data: *//p' "$kc" | head -n 1 | tr -d '"')
subject=$(printf '%s' "$data" | base64 -d | openssl x509 -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
name=${manifest##*/}
case "$subject" in
  *O=system:masters*) ;;
  *O=kubeadm:cluster-admins*)
    [ -f "$STANDIN_LOG.bound" ] || {
      echo "Error from server (Forbidden): $name: User \"kubernetes-admin\" cannot create resource" >&2
      exit 1
    } ;;
  *) echo "Error from server (Forbidden): unknown identity $subject" >&2; exit 1 ;;
esac
echo "$name $subject" >> "$STANDIN_LOG"
case "$name" in 00-admin-clusterrolebinding.yaml) touch "$STANDIN_LOG.bound" ;; esac
