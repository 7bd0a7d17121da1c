#!/usr/bin/env bash
# Builds the upstream programs the cluster test runs from the Go modules beside this script, each group
# cached under target/cluster/build/<group>-<key>/ (key: the Go version, every file of the group's module,
# this script), and prints the directory holding them all (target/cluster/build/bin-<key>/, links).
#   k8s      kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl at the
#            k8s.io/kubernetes version of k8s/go.mod, stamped like a release (hack/lib/version.sh)
#   etcd     etcd and etcdctl (etcdmain.Main, ctlv3) at etcd/go.mod's version
#   runtime  containerd, containerd-shim-runc-v2, ctr, runc (cgo, seccomp), CNI bridge, host-local,
#            loopback, portmap
#   coredns  CoreDNS at coredns/go.mod's version
#   crictl   cri-tools' crictl at crictl/go.mod's version (for the test's download mirror)
#   images   pause (upstream build/pause/linux/pause.c, static), hwprobe (the test workload), mkimage
# Go's module and build caches stay in their default places, so a second run on the same machine is warm.
# Build times go to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=$repo/target/cluster/build
mkdir -p "$cache"
gover=$(go env GOVERSION)
export CGO_ENABLED=1 GOFLAGS=-buildvcs=false

key() { # group -> cache key: every file of the group's module (go.mod, go.sum, sources), this script, Go
  (cd "$here/$1" && find . -type f | LC_ALL=C sort | xargs cat) | cat - "$0" <(echo "$gover") | sha256sum | cut -c1-12
}

mod_version() { # module dir, module path -> its version in go.mod
  (cd "$here/$1" && go list -m -f '{{.Version}}' "$2")
}

group() { # name, then the build commands run in the group's directory with $out set
  local name=$1; shift
  local out="$cache/$name-$(key "$name")"
  if [ -f "$out/.complete" ]; then
    echo "cluster build: $name cached ($out)" >&2
  else
    rm -rf "$out.tmp"
    mkdir -p "$out.tmp"
    local t0=$SECONDS
    echo "cluster build: $name ..." >&2
    (cd "$here/$name" && out=$out.tmp && "$@")
    touch "$out.tmp/.complete"
    rm -rf "$out"
    mv "$out.tmp" "$out"
    echo "cluster build: $name built in $((SECONDS - t0)) s" >&2
  fi
  dirs+=("$out")
}

build_k8s() {
  local v info date minor
  v=$(mod_version k8s k8s.io/kubernetes)
  minor=${v#v1.}; minor=${minor%%.*}
  # buildDate: the release's publication time as the module proxy records it (deterministic).
  info=$(go mod download -json "k8s.io/kubernetes@$v")
  date=$(python3 -c 'import json,sys; print(json.load(open(json.load(sys.stdin)["Info"]))["Time"])' <<<"$info")
  local ld="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$date"
  done
  go build -trimpath -ldflags "$ld" -o "$out/" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl
  echo "$v" > "$out/VERSION"
}

build_etcd() {
  go build -trimpath -ldflags "-s -w" -o "$out/" ./etcd ./etcdctl
  mod_version etcd go.etcd.io/etcd/server/v3 > "$out/VERSION"
}

build_runtime() {
  local c=github.com/containerd/containerd/v2 v
  v=$(mod_version runtime $c)
  go build -trimpath -ldflags "-s -w -X $c/version.Version=$v -X $c/version.Revision=module" -o "$out/" \
    $c/cmd/containerd $c/cmd/containerd-shim-runc-v2 $c/cmd/ctr
  v=$(mod_version runtime github.com/opencontainers/runc)
  go build -trimpath -tags "seccomp urfave_cli_no_docs" -ldflags "-s -w -X main.version=${v#v}" \
    -o "$out/runc" github.com/opencontainers/runc
  mkdir -p "$out/cni"
  local p=github.com/containernetworking/plugins/plugins
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/cni/" $p/main/bridge $p/main/loopback \
    $p/ipam/host-local $p/meta/portmap
}

build_coredns() {
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/coredns" github.com/coredns/coredns
  mod_version coredns github.com/coredns/coredns > "$out/VERSION"
}

build_crictl() {
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/crictl" sigs.k8s.io/cri-tools/cmd/crictl
  mod_version crictl sigs.k8s.io/cri-tools > "$out/VERSION"
}

build_images() {
  local k8s pause
  k8s=$(cd "$here/k8s" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  pause=$(sed -n 's/^TAG ?= //p' "$k8s/build/pause/Makefile")
  gcc -Os -Wall -Werror -static -DVERSION="v$pause-hardway" -o "$out/pause" "$k8s/build/pause/linux/pause.c"
  echo "$pause" > "$out/PAUSE_VERSION"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/" ./hwprobe ./mkimage
}

dirs=()
group k8s build_k8s
group etcd build_etcd
group runtime build_runtime
group coredns build_coredns
group crictl build_crictl
group images build_images

# One directory with every program (links into the group caches), keyed by all of them.
all=$(printf '%s\n' "${dirs[@]}" | sha256sum | cut -c1-12)
bin=$cache/bin-$all
if [ ! -d "$bin" ]; then
  rm -rf "$bin.tmp"
  mkdir -p "$bin.tmp"
  for d in "${dirs[@]}"; do
    for f in "$d"/*; do
      [ -f "$f" ] && [ -x "$f" ] && ln -sfn "$f" "$bin.tmp/${f##*/}"
    done
  done
  ln -sfn "${dirs[2]}/cni" "$bin.tmp/cni"
  for d in "${dirs[@]}"; do ln -sfn "$d" "$bin.tmp/.${d##*/}"; done
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
