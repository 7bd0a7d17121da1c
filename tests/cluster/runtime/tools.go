//go:build tools

// Package runtime pins the container runtime the cluster test builds: containerd 2.x (daemon, runc shim,
// ctr), runc and the CNI plugins hardway's CNI config names (bridge, host-local, loopback, portmap).
// The build tag keeps this file out of every build; ../build.sh builds the paths.
package runtime

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "github.com/containernetworking/plugins/plugins/meta/portmap"
	_ "github.com/opencontainers/runc"
)
