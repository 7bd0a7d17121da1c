//go:build tools

// Package crictl pins cri-tools' crictl, which install.sh fetches as a release tarball on workers that
// download their binaries; ../build.sh builds it for the test mirror.
package crictl

import _ "sigs.k8s.io/cri-tools/cmd/crictl"
