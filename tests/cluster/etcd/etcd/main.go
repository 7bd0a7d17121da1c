// Command etcd is upstream etcd's server (etcdmain.Main), built from its Go module at the version go.mod
// pins, for the cluster test. Upstream's own main package lives in a module whose replace directives
// `go build` refuses from outside, so this one-line main stands in for it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
