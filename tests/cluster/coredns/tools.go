//go:build tools

// Package coredns pins CoreDNS at the version hardway's CoreDNS manifest names for Kubernetes 1.36
// (kubeadm's constant); ../build.sh builds it and packs it as that image.
package coredns

import _ "github.com/coredns/coredns"
