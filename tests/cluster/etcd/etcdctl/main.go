// Command etcdctl is upstream etcdctl (ctlv3.MustStart) at the version go.mod pins, for the cluster test.
package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() { ctlv3.MustStart() }
