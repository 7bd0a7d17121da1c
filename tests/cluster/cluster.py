#!/usr/bin/env python3
"""make cluster-test: a real Kubernetes cluster booted from hardway's user-data, and the KTHW smoke test.

Real programs only: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and
kubectl of the k8s.io/kubernetes module (tests/cluster/k8s), etcd 3.6 (tests/cluster/etcd), containerd
2.x, runc and the CNI plugins (tests/cluster/runtime), CoreDNS (tests/cluster/coredns), built by
tests/cluster/build.sh and cached under target/cluster/build. Images come without a registry: pause
(upstream's pause.c), CoreDNS and the workload (hwprobe) are image archives the workers import at boot
(the topology's images.archives), served with every downloaded binary by a mirror inside the test
network, laid out as binaries.baseURL, etcdBaseURL and runtimeBaseURL expect (tarballs and checksum
files made from the built programs).

Nodes: 3 controllers with stacked etcd, a load balancer (HAProxy), 2 workers (one with kubelet
certificates from the bundle, one with TLS bootstrap), each a systemd-nspawn container over overlayfs
booted by systemd and cloud-init from its user-data, in a private network namespace. cp-0, lb-0 and w-0
download their binaries from the mirror (binaries: download); the others find them in the image
(preinstalled). A node booted with a wrong checksum on the mirror must fail visibly.

The container setup follows kind's node entrypoint: the cgroup v1 controllers of this machine's hybrid
hierarchy are made writable inside the node's cgroup namespace (tests/cluster/node-init), every
capability, /dev/kmsg, containerd's state on a real file system (overlayfs cannot hold overlayfs).

Bounded: every wait has a timeout; every process started is stopped by PID; mounts, cgroups and the
namespace are removed at the end, also on failure. HARDWAY_KEEP_CLUSTER=1 leaves the cluster running and
writes target/cluster-test/cluster.env; `make cluster-down` removes it.
"""
import datetime
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "boot"))
import boot  # noqa: E402

OUT = os.path.join(REPO, "target", "cluster-test")
CACHE = os.path.join(REPO, "target", "cluster")
NET = "10.79.0"
MIRROR = f"{NET}.1"
MIRROR_PORT = 8443
K8S = "1.36.3"
VERSIONS = {"etcd": "3.6.8", "containerd": "2.3.7", "runc": "1.4.4", "cniPlugins": "1.9.1", "crictl": "1.37.0",
            "pause": "3.10.2"}
COREDNS = "v1.14.2"
PACKAGES = ["systemd", "systemd-sysv", "dbus", "cloud-init", "iproute2", "ca-certificates", "openssl", "haproxy",
            "kmod", "python3-yaml", "locales", "iptables", "conntrack", "ipset", "socat", "curl"]
IMAGE_RECIPE = "cluster-1"
NODES = [  # name, address, roles, extra topology fields
    ("cp-0", f"{NET}.11", ["controlplane", "etcd"], ", binaries: download"),
    ("cp-1", f"{NET}.12", ["controlplane", "etcd"], ""),
    ("cp-2", f"{NET}.13", ["controlplane", "etcd"], ""),
    ("lb-0", f"{NET}.20", ["loadbalancer"], ", binaries: download"),
    ("w-0", f"{NET}.31", ["worker"], ", binaries: download"),
    ("w-1", f"{NET}.32", ["worker"], ", kubeletCredentials: bootstrap"),
]
BAD_NODE = ("w-bad", f"{NET}.41")
BOOT_TIMEOUT = 420
# kube-proxy reads /sys/module/nf_conntrack (nspawn shows no /sys/module), the kubelet /dev/kmsg.
NSPAWN_ARGS = ["--capability=all", "--system-call-filter=@keyring bpf", "--bind=/dev/kmsg", "--bind-ro=/sys/module"]
HIERARCHIES = ["systemd", "unified", "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"]
# Log lines allowed to mention certificates or authorization once start-up is over (journal_scan), each
# an upstream race rather than a credential or RBAC problem:
ALLOWED = [
    # The Node authorizer's graph learns of a pod bound to the node a moment after the kubelet does.
    "no relationship found between node",
]

T0 = time.monotonic()


def say(msg):
    print(f"cluster-test [{time.monotonic() - T0:5.0f}s]: {msg}", flush=True)


def run(cmd, timeout=120, check=True, **kw):
    return boot.run(cmd, timeout=timeout, check=check, **kw)


def skip_or_fail(why):
    if os.environ.get("HARDWAY_ALLOW_SKIP") == "1":
        print(f"SKIPPED: cluster test: {why} (HARDWAY_ALLOW_SKIP=1); no cluster was booted", flush=True)
        sys.exit(0)
    print(f"cluster-test: {why}; install what .ci/run installs, or set HARDWAY_ALLOW_SKIP=1 to skip", flush=True)
    sys.exit(1)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------
# Programs, layers, images, mirror


def build():
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(HERE, "build.sh")], capture_output=True, text=True, timeout=3600)
    for line in r.stderr.splitlines():
        if line.startswith("cluster build:"):
            say(line)
    if r.returncode != 0:
        raise RuntimeError(f"build.sh failed:\n{r.stderr[-4000:]}")
    say(f"programs ready in {time.monotonic() - t0:.0f} s")
    return r.stdout.strip().splitlines()[-1]


def cached_dir(name, key, make):
    """target/cluster/NAME-KEY, made once by MAKE(tmpdir)."""
    d = os.path.join(CACHE, f"{name}-{key}")
    if os.path.exists(os.path.join(d, ".complete")):
        return d
    tmp = d + f".tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    make(tmp)
    open(os.path.join(tmp, ".complete"), "w").close()
    shutil.rmtree(d, ignore_errors=True)
    os.rename(tmp, d)
    return d


def link(src, dst, mode=0o755):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    src = os.path.realpath(src)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    os.chmod(dst, mode)


BIN_PROGRAMS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl",
                "etcd", "etcdctl", "containerd", "containerd-shim-runc-v2", "ctr", "crictl"]
CNI = ["bridge", "host-local", "loopback", "portmap"]


def bin_layer(bin_dir):
    """The programs where a preinstalled image has them: /usr/local/bin, runc in /usr/local/sbin, CNI."""
    def make(d):
        for p in BIN_PROGRAMS:
            link(os.path.join(bin_dir, p), os.path.join(d, "usr/local/bin", p))
        link(os.path.join(bin_dir, "runc"), os.path.join(d, "usr/local/sbin/runc"))
        for p in CNI:
            link(os.path.join(bin_dir, "cni", p), os.path.join(d, "opt/cni/bin", p))
    return cached_dir("layer-bin", os.path.basename(bin_dir), make)


def node_layer(ca_pem, image_root):
    """What every node of the test gets besides the image: the node entrypoint and the mirror's CA."""
    key = hashlib.sha256(ca_pem + open(os.path.join(HERE, "node-init"), "rb").read()).hexdigest()[:12]

    def make(d):
        link(os.path.join(HERE, "node-init"), os.path.join(d, "usr/local/sbin/hardway-test-init"))
        os.makedirs(os.path.join(d, "usr/local/share/ca-certificates"))
        open(os.path.join(d, "usr/local/share/ca-certificates/hardway-test-mirror.crt"), "wb").write(ca_pem)
        bundle = open(os.path.join(image_root, "etc/ssl/certs/ca-certificates.crt"), "rb").read()
        os.makedirs(os.path.join(d, "etc/ssl/certs"))
        open(os.path.join(d, "etc/ssl/certs/ca-certificates.crt"), "wb").write(bundle + ca_pem)
    return cached_dir("layer-node", key, make)


def images(bin_dir):
    """Image archives (docker archive format, one layer each) made by mkimage from the built programs."""
    def make(d):
        mk = os.path.join(bin_dir, "mkimage")
        for out, tag, prog in [("pause.tar", f"hardway.test/pause:{VERSIONS['pause']}", "pause"),
                               ("coredns.tar", f"hardway.test/coredns:{COREDNS}", "coredns"),
                               ("hwprobe.tar", "hardway.test/hwprobe:1", "hwprobe")]:
            run([mk, "-o", os.path.join(d, out), "-t", tag, "-entrypoint", f"/{prog}",
                 f"{os.path.realpath(os.path.join(bin_dir, prog))}=/{prog}"])
    return cached_dir("images", os.path.basename(bin_dir), make)


def tarball(path, members, prefix=""):
    """A .tar.gz of MEMBERS (name -> file), fixed times, root-owned, mode 0755."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        for name, src in members:
            info = tarfile.TarInfo(prefix + name)
            info.size = os.path.getsize(src)
            info.mode, info.mtime, info.uid, info.gid = 0o755, 0, 0, 0
            with open(src, "rb") as f:
                tf.addfile(info, f)


def mirror_tree(bin_dir, image_dir):
    """The download mirror, laid out like dl.k8s.io, etcd's and GitHub's release pages."""
    def make(d):
        rel = lambda *p: os.path.join(d, *p)  # noqa: E731
        kdir = rel("k8s", f"v{K8S}", "bin/linux/amd64")
        for p in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"]:
            link(os.path.join(bin_dir, p), os.path.join(kdir, p))
            open(os.path.join(kdir, p + ".sha256"), "w").write(sha256_file(os.path.join(kdir, p)) + "\n")
        # A mirror whose kubelet checksum is wrong (the negative case).
        bad = rel("k8s-bad", f"v{K8S}", "bin/linux/amd64")
        os.makedirs(bad)
        for f in os.listdir(kdir):
            if f.endswith(".sha256"):
                open(os.path.join(bad, f), "w").write(open(os.path.join(kdir, f)).read())
            else:
                os.link(os.path.join(kdir, f), os.path.join(bad, f))
        open(os.path.join(bad, "kubelet.sha256"), "w").write("0" * 64 + "\n")
        e = VERSIONS["etcd"]
        edir = rel("etcd", f"v{e}")
        os.makedirs(edir)
        name = f"etcd-v{e}-linux-amd64.tar.gz"
        tarball(os.path.join(edir, name), [(p, os.path.join(bin_dir, p)) for p in ("etcd", "etcdctl")],
                f"etcd-v{e}-linux-amd64/")
        open(os.path.join(edir, "SHA256SUMS"), "w").write(f"{sha256_file(os.path.join(edir, name))}  {name}\n")
        gh = rel("gh")
        c = VERSIONS["containerd"]
        cdir = os.path.join(gh, "containerd/containerd/releases/download", f"v{c}")
        os.makedirs(cdir)
        name = f"containerd-{c}-linux-amd64.tar.gz"
        tarball(os.path.join(cdir, name),
                [(p, os.path.join(bin_dir, p)) for p in ("containerd", "containerd-shim-runc-v2", "ctr")], "bin/")
        open(os.path.join(cdir, name + ".sha256sum"), "w").write(f"{sha256_file(os.path.join(cdir, name))}  {name}\n")
        r = VERSIONS["runc"]
        rdir = os.path.join(gh, "opencontainers/runc/releases/download", f"v{r}")
        link(os.path.join(bin_dir, "runc"), os.path.join(rdir, "runc.amd64"))
        open(os.path.join(rdir, "runc.sha256sum"), "w").write(f"{sha256_file(os.path.join(rdir, 'runc.amd64'))}  runc.amd64\n")
        v = VERSIONS["cniPlugins"]
        pdir = os.path.join(gh, "containernetworking/plugins/releases/download", f"v{v}")
        os.makedirs(pdir)
        name = f"cni-plugins-linux-amd64-v{v}.tgz"
        tarball(os.path.join(pdir, name), [(p, os.path.join(bin_dir, "cni", p)) for p in CNI], "./")
        open(os.path.join(pdir, name + ".sha256"), "w").write(f"{sha256_file(os.path.join(pdir, name))}  {name}\n")
        v = VERSIONS["crictl"]
        tdir = os.path.join(gh, "kubernetes-sigs/cri-tools/releases/download", f"v{v}")
        os.makedirs(tdir)
        name = f"crictl-v{v}-linux-amd64.tar.gz"
        tarball(os.path.join(tdir, name), [("crictl", os.path.join(bin_dir, "crictl"))])
        open(os.path.join(tdir, name + ".sha256"), "w").write(f"{sha256_file(os.path.join(tdir, name))}  {name}\n")
        for f in os.listdir(image_dir):
            if f.endswith(".tar"):
                link(os.path.join(image_dir, f), rel("images", f), 0o644)
    return cached_dir("mirror", os.path.basename(bin_dir) + "-1", make)


def mirror_tls(work):
    """A CA and a serving certificate for the mirror's address (openssl)."""
    ca_key, ca, key, csr, crt = (os.path.join(work, n) for n in ("ca.key", "ca.crt", "m.key", "m.csr", "m.crt"))
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=hardway test mirror CA", "-keyout", ca_key, "-out", ca])
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={MIRROR}",
         "-keyout", key, "-out", csr])
    ext = os.path.join(work, "ext")
    open(ext, "w").write(f"subjectAltName=IP:{MIRROR}\nextendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
         "-extfile", ext, "-out", crt])
    return ca, crt, key


def run_mirror(work, cached):
    """This run's mirror: the cached tree (links) and a directory for the bundles' secrets archives."""
    root = os.path.join(work, "mirror")
    os.makedirs(os.path.join(root, "secrets"))
    for d in os.listdir(cached):
        if not d.startswith("."):
            os.symlink(os.path.join(cached, d), os.path.join(root, d))
    return root


def user_data_leaks(bundle, index):
    """Secret material in any user-data: PEM private keys, the encryption keys, bootstrap token secrets."""
    enc = open(os.path.join(bundle, "encryption/encryption-config.yaml")).read()
    needles = [l.split("secret:", 1)[1].strip().strip('"') for l in enc.splitlines() if "secret:" in l]
    for t in index["bootstrapTokens"]:
        kc = open(os.path.join(bundle, t["kubeconfig"])).read()
        needles += [l.split("token:", 1)[1].strip().strip('"') for l in kc.splitlines() if "token:" in l]
    found = []
    for n in index["nodes"]:
        ud = open(os.path.join(bundle, n["userData"])).read()
        if "PRIVATE KEY" in ud:
            found.append(f"{n['name']}: a private key")
        found += [f"{n['name']}: a secret of the bundle" for x in needles if x and x in ud]
    return found


def publish_archives(bundle, mirror_root):
    """Puts BUNDLE's secrets archives where the nodes fetch them (the mirror's secrets/)."""
    src = os.path.join(bundle, "secrets")
    for f in os.listdir(src) if os.path.isdir(src) else []:
        shutil.copyfile(os.path.join(src, f), os.path.join(mirror_root, "secrets", f))


def serve_mirror(root, cert, key, addr, port):
    """`cluster.py serve-mirror ROOT CERT KEY ADDR PORT`: the mirror's HTTPS server (in the test network)."""
    import functools
    import http.server
    import ssl
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    srv = http.server.ThreadingHTTPServer((addr, int(port)), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


# ----------------------------------------------------------------------------------------------------
# Topology


def topology(name, nodes, image_dir, base_url=None, secrets_ca=None):
    # Certificates must be valid now: TLS peers check them against the clock.
    now = datetime.datetime.now(datetime.timezone.utc)
    day = (now - datetime.timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
    # Bootstrap tokens expire a day after pki.notBefore by default: yesterday's would be expired.
    tokens = (now + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:00:00Z")
    m = f"https://{MIRROR}:{MIRROR_PORT}"
    archives = "".join(f"\n    - {{url: {m}/images/{f}, sha256: {sha256_file(os.path.join(image_dir, f))}}}"
                       for f in ("pause.tar", "coredns.tar", "hwprobe.tar"))
    lines = [
        "cluster:", f"  name: {name}", f'  kubernetesVersion: "{K8S}"', f"  apiServer: {{endpoint: {NET}.20}}",
        "  network: {serviceCIDR: 10.32.0.0/24, podCIDR: 10.200.0.0/16}",
        "  failCgroupV1: false",
        "  restrictOOMScoreAdj: true",
        f'  bootstrapTokensExpire: "{tokens}"',
        f'pki: {{notBefore: "{day}"}}', "encryption: {keys: [key1]}",
        "binaries:", "  source: preinstalled", f"  baseURL: {base_url or m + '/k8s'}", f"  etcdBaseURL: {m}/etcd",
        f"  runtimeBaseURL: {m}/gh",
        "  versions: {" + ", ".join(f'{k}: "{v}"' for k, v in VERSIONS.items()) + "}",
        "images:", f"  sandbox: hardway.test/pause:{VERSIONS['pause']}", f"  coredns: hardway.test/coredns:{COREDNS}",
        "  archives:" + archives,
    ]
    if secrets_ca:
        # No private key in the user-data: each node fetches its archive from the mirror, over TLS
        # verified against the mirror's CA only.
        lines += ["secrets:", "  delivery: archive",
                  f'  source: {{https: {{url: "{m}/secrets/{{node}}.tar", caFile: {secrets_ca}}}}}']
    lines += [
        "nodes:",
    ]
    for n, ip, roles, extra in nodes:
        lines.append(f"  - {{name: {n}, internalIP: {ip}, roles: [{', '.join(roles)}]{extra}}}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------
# The running cluster


class Cluster:
    def __init__(self, rnd, bundle, index, bin_dir):
        self.rnd, self.bundle, self.index, self.bin = rnd, bundle, index, bin_dir
        self.kubectl_bin = os.path.join(bin_dir, "kubectl")
        self.admin = os.path.join(bundle, "kubeconfigs/admin.kubeconfig")
        # (node, units, start, end): when the test itself restarted an apiserver (see smoke's HA check).
        self.windows = []

    def host(self, cmd, timeout=60, check=False, **kw):
        return self.rnd.host(cmd, timeout=timeout, check=check, **kw)

    def kubectl(self, *args, timeout=60, check=True, kubeconfig=None, stdin=None):
        r = run(["nsenter", f"--net=/run/netns/{self.rnd.ns}", self.kubectl_bin, "--kubeconfig",
                 kubeconfig or self.admin, "--request-timeout=20s"] + list(args), timeout=timeout, check=False,
                input=stdin)
        if check and r.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def etcd_ca(self):
        """The etcd CA file clients trust: the trust bundle once a rotation began, else generation 1's."""
        trust = os.path.join(self.bundle, "pki/etcd-ca-trust.crt")
        return trust if os.path.exists(trust) else os.path.join(self.bundle, "pki/etcd-ca.crt")

    def etcdctl(self, *args, endpoints=None, timeout=30):
        eps = endpoints or [f"https://{n['internalIP']}:2379" for n in self.index["nodes"] if "etcd" in n["roles"]]
        hc = os.path.join(self.bundle, "pki/etcd-healthcheck-client")
        return self.host([os.path.join(self.bin, "etcdctl"), "--dial-timeout=3s", "--command-timeout=10s",
                          f"--endpoints={','.join(eps)}", f"--cacert={self.etcd_ca()}",
                          f"--cert={hc}.crt", f"--key={hc}.key"] + list(args), timeout=timeout)

    def etcdctl_raw(self, *args, timeout=30):
        """etcdctl's standard output as bytes (values in etcd are binary)."""
        hc = os.path.join(self.bundle, "pki/etcd-healthcheck-client")
        eps = [f"https://{n['internalIP']}:2379" for n in self.index["nodes"] if "etcd" in n["roles"]]
        r = subprocess.run(["nsenter", f"--net=/run/netns/{self.rnd.ns}", os.path.join(self.bin, "etcdctl"),
                            "--dial-timeout=3s", "--command-timeout=10s", f"--endpoints={','.join(eps)}",
                            f"--cacert={self.etcd_ca()}", f"--cert={hc}.crt", f"--key={hc}.key"] + list(args),
                           capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)}: {r.stderr.decode(errors='replace')}")
        return r.stdout

    def inside(self, node, cmd, timeout=60, check=False):
        return self.rnd.inside(node, cmd, timeout=timeout, check=check)

    def wait(self, what, fn, timeout, every=2):
        """Calls FN until it returns a true value (then returns it) or TIMEOUT seconds pass (raises)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = fn()
                if last:
                    return last
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                last = e
            time.sleep(every)
        raise RuntimeError(f"timed out after {timeout} s waiting for {what}: {str(last)[-1500:]}")


# What a kubelet sets on its host unless already so (kubelet's setupKernelTunables): in a container
# these are the host's, read-only, so the test sets them on the host for the time of the test (as a
# kind host's kubelets would) and restores them afterwards.
# kube-proxy likewise sets nf_conntrack_max (global, writable only from the host's network namespace) to
# max(32768 per CPU, 131072), capped at 1M (pkg/proxy/conntrack, hardway's KubeProxyConfiguration keeps
# those defaults).
KUBELET_SYSCTLS = {"kernel/panic": "10", "kernel/panic_on_oops": "1", "vm/overcommit_memory": "1",
                   "net/netfilter/nf_conntrack_max": str(min(max(32768 * (os.cpu_count() or 1), 131072), 1048576))}


def set_host_sysctls(values):
    """Writes VALUES (key -> value under /proc/sys); returns the previous values."""
    old = {}
    for k, v in values.items():
        path = os.path.join("/proc/sys", k)
        old[k] = open(path).read().strip()
        open(path, "w").write(v)
    return old


def user_data(bundle, node):
    return open(os.path.join(bundle, node["userData"])).read()


def install_problems(c, name):
    """Why node NAME's install.sh did not finish (with the end of its output)."""
    st = c.inside(name, ["cat", "/var/lib/hardway/status"]).stdout.strip()
    if st == "ok":
        return []
    log = c.inside(name, ["tail", "-n", "25", "/var/log/cloud-init-output.log"]).stdout
    return [f"{name}: install.sh status {st!r}\n{log}"]


def unit_problems(c, name, patience=240):
    """Units of node NAME not active within PATIENCE seconds, with their last log lines. (A bootstrapping
    worker's kube-proxy waits for the kubelet's first certificate, which needs the bundle's manifests.)"""
    problems = []
    node = next(n for n in c.index["nodes"] if n["name"] == name)
    deadline = time.monotonic() + patience
    while True:
        # Active, and for 15 s at least (a crash-looping unit is active for moments).
        out = c.inside(name, ["systemctl", "show", "-p", "Id,ActiveState,ActiveEnterTimestampMonotonic"]
                       + node["units"]).stdout
        shown = [dict(l.split("=", 1) for l in block.splitlines() if "=" in l) for block in out.strip().split("\n\n")]
        now = time.monotonic() * 1e6
        bad = [u["Id"] for u in shown if u.get("ActiveState") != "active"
               or now - int(u.get("ActiveEnterTimestampMonotonic") or 0) < 15e6]
        if not bad or time.monotonic() > deadline:
            break
        time.sleep(3)
    for u in bad:
        j = c.inside(name, ["journalctl", "-u", u, "-n", "12", "--no-pager", "-o", "cat"]).stdout
        problems.append(f"{name}: {u} is not steadily active:\n{j}")
    return problems


def smoke(c, results):
    """The KTHW smoke test and the rest of issue #23's checks; appends (check, seconds) to RESULTS."""
    def timed(what, fn):
        t0 = time.monotonic()
        fn()
        results.append((what, round(time.monotonic() - t0, 1)))
        say(f"ok: {what} ({time.monotonic() - t0:.1f} s)")

    b = c.bundle
    env = dict(os.environ, PATH=f"{c.bin}:{os.environ['PATH']}")

    def apply_manifests():
        r = run(["nsenter", f"--net=/run/netns/{c.rnd.ns}", "sh", os.path.join(b, "manifests/apply.sh"), "--bootstrap",
                 os.path.join(b, "break-glass/super-admin.kubeconfig")], timeout=300, check=False, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"apply.sh --bootstrap: exit {r.returncode}\n{r.stdout}{r.stderr}")
    c.wait("the API through the load balancer", lambda: c.kubectl("get", "--raw", "/readyz", check=False).stdout == "ok", 300)
    timed("manifests/apply.sh --bootstrap break-glass/super-admin.kubeconfig", apply_manifests)

    def units_active():
        problems = [p for n in c.index["nodes"] for p in unit_problems(c, n["name"])]
        if problems:
            raise RuntimeError("\n".join(problems))
    timed("every unit of every node active", units_active)

    def secret():
        c.kubectl("create", "secret", "generic", "kubernetes-the-hard-way", "--from-literal=mykey=mydata")
        raw = c.etcdctl_raw("get", "/registry/secrets/default/kubernetes-the-hard-way", "--print-value-only")
        if not raw.startswith(b"k8s:enc:secretbox:v1:key1:"):
            raise RuntimeError(f"raw etcd value does not start with k8s:enc:secretbox:v1:key1: {raw[:80]!r}")
        if b"mydata" in raw:
            raise RuntimeError("the secret's value is in etcd in the clear")
        got = c.kubectl("get", "secret", "kubernetes-the-hard-way", "-o", "jsonpath={.data.mykey}").stdout
        if got != "bXlkYXRh":
            raise RuntimeError(f"secret reads back as {got!r}")
    timed("a Secret is stored encrypted (k8s:enc:secretbox:v1:key1) and reads back", secret)

    def nodes_ready():
        def ready():
            nodes = json.loads(c.kubectl("get", "nodes", "-o", "json").stdout)["items"]
            ok = {n["metadata"]["name"]: n for n in nodes
                  if any(x["type"] == "Ready" and x["status"] == "True" for x in n["status"]["conditions"])}
            return ok if set(ok) == {"w-0", "w-1"} else None
        nodes = c.wait("both workers Ready", ready, 300)
        for name, n in nodes.items():
            v = n["status"]["nodeInfo"]["kubeletVersion"]
            if v != f"v{K8S}":
                raise RuntimeError(f"{name}: kubeletVersion {v}, expected v{K8S}")
    timed(f"every node Ready with kubeletVersion v{K8S}", nodes_ready)

    def csrs():
        approve = os.path.join(b, "manifests/approve-kubelet-serving-csrs.sh")

        def serving():
            run(["nsenter", f"--net=/run/netns/{c.rnd.ns}", "sh", approve], timeout=60, check=False, env=env)
            items = json.loads(c.kubectl("get", "csr", "-o", "json").stdout)["items"]
            token = next(t["id"] for t in c.index["bootstrapTokens"] if t["node"] in ("w-1", None))
            client = [i for i in items if i["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
                      and i["spec"]["username"] == f"system:bootstrap:{token}"]
            serve = [i for i in items if i["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
                     and i["spec"]["username"] == "system:node:w-1"]
            issued = lambda l: [i for i in l if i.get("status", {}).get("certificate")]  # noqa: E731
            auto = [i for i in client if any(x.get("reason") == "AutoApproved" for x in i["status"].get("conditions", []))]
            return auto and issued(client) and issued(serve)
        c.wait("w-1's client CSR auto-approved and its serving CSR approved by the bundle's script", serving, 180)
        # The kubelet serves with the issued certificate: logs through the apiserver need it (below).
    timed("TLS bootstrap: client CSR auto-approved (bundle RBAC), serving CSR approved by the bundle's script", csrs)
    # Start-up is over: from here no component may log a certificate or authorization error.
    c.started = time.time()

    web = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers:
        - name: web
          image: hardway.test/hwprobe:1
          imagePullPolicy: Never
          args: [serve, ":8080"]
          ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
"""

    def workload():
        c.kubectl("apply", "-f", "-", stdin=web)
        c.kubectl("rollout", "status", "deployment/web", "--timeout=240s", timeout=260)
        pods = json.loads(c.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
        where = sorted(p["spec"]["nodeName"] for p in pods)
        if where != ["w-0", "w-1"]:
            raise RuntimeError(f"web pods on {where}, expected one on each worker")
        c.pods = {p["spec"]["nodeName"]: (p["metadata"]["name"], p["status"]["podIP"]) for p in pods}
    timed("a Deployment of the workload Running on both workers", workload)

    def logs_exec_portforward():
        pod = c.pods["w-1"][0]
        out = c.kubectl("exec", pod, "--", "/hwprobe", "version").stdout
        if "hwprobe/" not in out:
            raise RuntimeError(f"kubectl exec: {out!r}")
        pf = subprocess.Popen(["nsenter", f"--net=/run/netns/{c.rnd.ns}", c.kubectl_bin, "--kubeconfig", c.admin,
                               "port-forward", pod, "18080:8080"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        try:
            body = c.wait("port-forward answers", lambda: c.host(["curl", "-sS", "--max-time", "3",
                                                                   "http://127.0.0.1:18080/"]).stdout, 30, every=1)
        finally:
            pf.terminate()
            try:
                pf.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pf.kill()
        if "hwprobe " not in body:
            raise RuntimeError(f"port-forward: {body!r}")
        log = c.wait("kubectl logs shows the request", lambda: "GET /" in c.kubectl("logs", pod).stdout, 30)
        if not log:
            raise RuntimeError("kubectl logs")
    timed("kubectl exec, port-forward + HTTP GET, logs (apiserver -> kubelet on both kinds of worker)",
          logs_exec_portforward)

    def nodeport_and_pods():
        # NodePort through each worker's kube-proxy from the host (another node), many times: both pods answer.
        seen = set()
        for ip in (f"{NET}.31", f"{NET}.32"):
            for _ in range(12):
                r = c.wait(f"NodePort on {ip}", lambda: c.host(["curl", "-sS", "--max-time", "3",
                                                                 f"http://{ip}:30080/"]).stdout, 60, every=1)
                seen.add(r.strip())
        if len(seen) < 2:
            raise RuntimeError(f"NodePort reached only {seen}")
        # Pod to pod across workers.
        (p0, ip0), (p1, ip1) = c.pods["w-0"], c.pods["w-1"]
        for pod, ip in ((p0, ip1), (p1, ip0)):
            out = c.kubectl("exec", pod, "--", "/hwprobe", "get", f"http://{ip}:8080/").stdout
            if "hwprobe" not in out:
                raise RuntimeError(f"{pod} -> {ip}: {out!r}")
    timed("a NodePort Service answered through each worker's kube-proxy; pod to pod across workers", nodeport_and_pods)

    def dns_and_token():
        pod = c.pods["w-0"][0]
        for name in ("kubernetes.default.svc.cluster.local", "web.default.svc.cluster.local", "web"):
            out = c.wait(f"{name} resolves", lambda: c.kubectl("exec", pod, "--", "/hwprobe", "resolve", name,
                                                                check=False).stdout.strip(), 90)
            want = c.index["network"]["kubernetesServiceIP"] if name.startswith("kubernetes") else None
            if want and want not in out:
                raise RuntimeError(f"{name} resolves to {out}, expected {want}")
        out = c.kubectl("exec", pod, "--", "/hwprobe", "api", "/api").stdout
        if not out.startswith("200"):
            raise RuntimeError(f"service-account token at the kubernetes Service IP: {out}")
    timed("CoreDNS resolves kubernetes.default and the Service; the pod's token calls the API at the Service IP",
          dns_and_token)

    def leases():
        for lease in ("kube-controller-manager", "kube-scheduler"):
            holder = c.wait(f"{lease} lease", lambda: c.kubectl("-n", "kube-system", "get", "lease", lease, "-o",
                                                                  "jsonpath={.spec.holderIdentity}").stdout, 60)
            if not any(holder.startswith(f"cp-{i}") for i in range(3)):
                raise RuntimeError(f"{lease} lease held by {holder!r}")
    timed("one kube-controller-manager and one kube-scheduler hold their leases", leases)

    def ha():
        # The apiserver stops listening at once, then drains its connections for up to a minute.
        c.inside("cp-0", ["systemctl", "stop", "--no-block", "kube-apiserver.service"], check=True)
        c.wait("cp-0's apiserver to stop listening", lambda: c.host(["curl", "-sk", "--max-time", "2",
                                                                      f"https://{NET}.11:6443/readyz"]).returncode == 7, 60,
               every=0.5)
        try:
            for i in range(10):
                c.kubectl("get", "nodes")
                c.kubectl("create", "configmap", f"ha-{i}")
        finally:
            c.inside("cp-0", ["systemctl", "start", "kube-apiserver.service"], timeout=180, check=True)
            # A restarted apiserver answers its node's scheduler and controller-manager (127.0.0.1) before
            # its RBAC authorizer has synced: "forbidden" for a few seconds is expected there.
            c.windows.append(("cp-0", ("kube-scheduler", "kube-controller-manager"), time.time(), time.time() + 60))
        st = json.loads(c.etcdctl("endpoint", "status", "-w", "json").stdout)
        leader_id = st[0]["Status"]["leader"]
        leader = next(s["Endpoint"] for s in st if s["Status"]["header"]["member_id"] == leader_id)
        node = next(n["name"] for n in c.index["nodes"] if f"https://{n['internalIP']}:2379" == leader)
        c.inside(node, ["systemctl", "stop", "etcd.service"], check=True)
        try:
            c.wait("a write with the etcd leader stopped", lambda: c.kubectl("create", "configmap", "after-leader",
                                                                             check=False).returncode == 0, 60)
        finally:
            c.inside(node, ["systemctl", "start", "etcd.service"], timeout=120, check=True)
        c.wait("etcd healthy again", lambda: c.etcdctl("endpoint", "health").returncode == 0, 120)
        c.wait("every apiserver ready", lambda: all(c.host(["curl", "-sS", "--max-time", "3", "--cacert",
                                                             f"{b}/pki/kubernetes-ca.crt",
                                                             f"https://{NET}.1{i}:6443/readyz"]).stdout == "ok"
                                                    for i in range(1, 4)), 120)
    timed("HA: an apiserver stopped, kubectl through the load balancer works; the etcd leader stopped, writes work",
          ha)


def journal_scan(c):
    """Certificate and authorization errors in every component's journal since start-up was over (every
    node Ready, the bootstrap worker's certificates issued), minus the allow-list."""
    bad = []
    since = f"@{int(getattr(c, 'started', 0))}"
    for n in c.index["nodes"]:
        units = [u for u in n["units"] if u.startswith(("kube", "etcd", "containerd"))]
        for u in units:
            out = c.inside(n["name"], ["journalctl", "-u", u, "--since", since, "--no-pager", "-o", "short-unix"],
                           timeout=60).stdout
            for line in out.splitlines():
                if not ("x509:" in line or "Unauthorized" in line or "forbidden" in line):
                    continue
                if any(a in line for a in ALLOWED):
                    continue
                try:
                    at = float(line.split()[0])
                except (ValueError, IndexError):
                    at = 0
                unit = u.removesuffix(".service")
                if any(n["name"] == wn and unit in wu and ws <= at <= we for wn, wu, ws, we in c.windows):
                    continue
                bad.append(f"{n['name']} {u}: {line[:300]}")
    return bad


def bad_node(rnd, work, hardway, image_dir, lowers, nspawn_args):  # noqa: PLR0913
    """A worker rendered against a mirror whose kubelet checksum is wrong: it must fail visibly."""
    name, ip = BAD_NODE
    nodes = [("cp-x", f"{NET}.42", ["controlplane", "etcd"], ""),
             (name, ip, ["worker"], ", binaries: download")]
    y = topology("bad", nodes, image_dir, base_url=f"https://{MIRROR}:{MIRROR_PORT}/k8s-bad",
                 secrets_ca=os.path.join(work, "ca.crt"))
    bundle, index = boot.render(hardway, work, "bad", y, "5")
    publish_archives(bundle, os.path.join(work, "mirror"))
    node = next(n for n in index["nodes"] if n["name"] == name)
    rnd.start(name, ip, user_data(bundle, node), lowers=lowers, nspawn_args=nspawn_args,
              init="/usr/local/sbin/hardway-test-init", hierarchies=HIERARCHIES)
    return node


# ----------------------------------------------------------------------------------------------------


def state_file():
    return os.path.join(OUT, "state.json")


def down():
    """`cluster.py down`: stops a cluster left running by HARDWAY_KEEP_CLUSTER=1."""
    try:
        st = json.load(open(state_file()))
    except (OSError, ValueError):
        say("no kept cluster (target/cluster-test/state.json)")
        return
    rnd = boot.Round(st["work"], None, None, "down")
    rnd.ns = st["ns"]
    for name, n in st["nodes"].items():
        rnd.nodes[name] = {"root": n["root"], "pid": n["pid"], "init": n["init"], "cgroups": n["cgroups"], "proc": None}
    for n in rnd.nodes.values():
        for pid in (n["pid"],):
            try:
                os.kill(pid, signal.SIGTERM)
            except (ProcessLookupError, TypeError):
                pass
    # A kept cluster is thrown away: a few seconds to power off, then killed (a full systemd shutdown
    # waits for every component's stop timeout and proves nothing here).
    deadline = time.monotonic() + 5
    for n in rnd.nodes.values():
        while time.monotonic() < deadline and n["pid"] and os.path.exists(f"/proc/{n['pid']}"):
            time.sleep(0.5)
        for pid in (n["init"], n["pid"]):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, TypeError):
                pass
    if st.get("mirror_pid"):
        try:
            os.kill(st["mirror_pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
    rnd.stop(grace=0)
    set_host_sysctls(st.get("sysctls", {}))
    shutil.rmtree(st["work"], ignore_errors=True)
    os.remove(state_file())
    say("kept cluster removed")


def interrupted(signum, _frame):
    """SIGTERM (a CI timeout) ends the test like ^C: the finally block stops what it started."""
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    signal.signal(signal.SIGTERM, interrupted)
    if len(sys.argv) > 1 and sys.argv[1] == "serve-mirror":
        serve_mirror(*sys.argv[2:7])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "down":
        down()
        return
    hardway = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "target/release/hardway"))
    if os.geteuid() != 0:
        skip_or_fail("needs root (mounts, network namespaces, systemd-nspawn)")
    missing = [c for c in ["go", "gcc", "mmdebstrap", "systemd-nspawn", "ip", "nsenter", "openssl", "curl"]
               if shutil.which(c) is None]
    if missing:
        skip_or_fail("missing " + ", ".join(missing))
    if os.path.exists(state_file()):
        say("a kept cluster is still running: removing it first (make cluster-down)")
        down()
    # HARDWAY_KEEP_CLUSTER=1: a person pokes at it afterwards (kept even when a check failed);
    # HARDWAY_DAY2_NEXT=1: make test's day-2 test runs on it next (kept only when every check passed).
    keep = os.environ.get("HARDWAY_KEEP_CLUSTER") == "1"
    day2_next = os.environ.get("HARDWAY_DAY2_NEXT") == "1"
    os.makedirs(OUT, exist_ok=True)
    timings = {}
    bin_dir = build()
    timings["programs s"] = round(time.monotonic() - T0)
    img, built = boot.image(PACKAGES, IMAGE_RECIPE, os.path.join(CACHE, "image"))
    timings["image build s"] = round(built)
    layer_bin = bin_layer(bin_dir)
    image_dir = images(bin_dir)
    mirror_root = mirror_tree(bin_dir, image_dir)
    work = tempfile.mkdtemp(prefix="hardway-cluster-")
    ca, crt, key = mirror_tls(work)
    layer_node = node_layer(open(ca, "rb").read(), img)
    say(f"layers, images and mirror ready ({time.monotonic() - T0:.0f} s)")
    problems = []
    results = []
    rnd = boot.Round(work, img, None, "c")
    rnd.ns = f"hwcluster-{os.getpid()}"
    mirror_proc = None
    kept = False
    sysctls = set_host_sysctls(KUBELET_SYSCTLS)
    try:
        rnd.__enter__()
        run(["ip", "-n", rnd.ns, "addr", "add", f"{MIRROR}/24", "dev", "br0"])
        run(["ip", "-n", rnd.ns, "addr", "del", f"{boot.BRIDGE_NET}.1/24", "dev", "br0"], check=False)
        served = run_mirror(work, mirror_root)
        mirror_proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{rnd.ns}", sys.executable, os.path.abspath(__file__),
                                        "serve-mirror", served, crt, key, MIRROR, str(MIRROR_PORT)],
                                       stdout=open(os.path.join(work, "mirror.log"), "w"), stderr=subprocess.STDOUT)
        bundle, index = boot.render(hardway, work, "cluster", topology("real", NODES, image_dir, secrets_ca=ca), "7")
        publish_archives(bundle, served)
        leaks = user_data_leaks(bundle, index)
        if leaks:
            raise RuntimeError(f"secrets in user-data with secrets.delivery: archive: {leaks}")
        say(f"rendered the bundle: {bundle}")
        t0 = time.monotonic()
        for n in index["nodes"]:
            lowers = [layer_node] + ([layer_bin] if n["binaries"] == "preinstalled" else [])
            args = list(NSPAWN_ARGS)
            if "worker" in n["roles"]:
                state = os.path.join(work, f"containerd-{n['name']}")
                os.makedirs(state)
                args.append(f"--bind={state}:/var/lib/containerd")
            rnd.start(n["name"], n["internalIP"], user_data(bundle, n), lowers=lowers, nspawn_args=args,
                      init="/usr/local/sbin/hardway-test-init", hierarchies=HIERARCHIES)
        bad = bad_node(rnd, work, hardway, image_dir, [layer_node], NSPAWN_ARGS)
        names = [n["name"] for n in index["nodes"]]
        status = rnd.wait_cloud_init(names + [bad["name"]], BOOT_TIMEOUT)
        timings["boot: every cloud-init finished s"] = round(time.monotonic() - t0)
        say(f"cloud-init: {status}")
        c = Cluster(rnd, bundle, index, bin_dir)
        for n in names:
            if status[n] != "done":
                problems.append(f"{n}: cloud-init {status[n]}")
            problems += install_problems(c, n)
        # The node with a wrong checksum on the mirror failed visibly, and started nothing.
        found = boot.failure_is_visible(rnd, bad["name"], bad)
        st = c.inside(bad["name"], ["cat", "/var/lib/hardway/status"]).stdout.strip()
        if "download kubelet" not in st:
            found.append(f"{bad['name']}: status {st!r} does not name the kubelet download")
        problems += [f"wrong checksum on the mirror: {f}" for f in found]
        if not found:
            say(f"ok: a wrong checksum on the mirror fails its node visibly ({st})")
        if not problems:
            t0 = time.monotonic()
            try:
                smoke(c, results)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                problems.append(f"smoke test: {e}")
            timings["smoke test s"] = round(time.monotonic() - t0)
            problems += [f"journal: {l}" for l in journal_scan(c)]
        if keep or (day2_next and not problems):
            kept = True
            env = {"NETNS": rnd.ns, "APISERVER": index["apiServer"]["url"], "BUNDLE": bundle,
                   "KUBECTL": f"{bin_dir}/kubectl --kubeconfig {bundle}/kubeconfigs/admin.kubeconfig",
                   "ETCDCTL": (f"{bin_dir}/etcdctl --cacert={bundle}/pki/etcd-ca.crt "
                               f"--cert={bundle}/pki/etcd-healthcheck-client.crt "
                               f"--key={bundle}/pki/etcd-healthcheck-client.key"),
                   "ETCD_ENDPOINTS": ",".join(f"https://{n['internalIP']}:2379" for n in index["nodes"]
                                              if "etcd" in n["roles"])}
            open(os.path.join(OUT, "cluster.env"), "w").write("".join(f"{k}={v}\n" for k, v in env.items()))
            nodes = {k: {"root": v["root"], "pid": v["pid"], "init": v["init"], "cgroups": v["cgroups"]}
                     for k, v in rnd.nodes.items()}
            json.dump({"ns": rnd.ns, "work": work, "nodes": nodes, "mirror_pid": mirror_proc.pid, "sysctls": sysctls,
                       "image": img, "layers": {"node": layer_node, "bin": layer_bin}, "bin": bin_dir,
                       "hardway": hardway, "bundle": bundle, "image_dir": image_dir, "mirror": served},
                      open(state_file(), "w"))
            say("the cluster keeps running (HARDWAY_KEEP_CLUSTER=1); target/cluster-test/cluster.env says how to "
                f"reach it, e.g.: nsenter --net=/run/netns/{rnd.ns} {env['KUBECTL']} get nodes; "
                "make cluster-down removes it")
    finally:
        if not kept:
            t1 = time.monotonic()
            rnd.terminate()
            rnd.stop(grace=20)
            set_host_sysctls(sysctls)
            if mirror_proc:
                mirror_proc.kill()
                mirror_proc.wait(timeout=10)
            timings["teardown s"] = round(time.monotonic() - t1)
            shutil.rmtree(work, ignore_errors=True)
    timings["total s"] = round(time.monotonic() - T0)
    json.dump({"checks": results, "timings": timings, "problems": problems}, open(os.path.join(OUT, "results.json"), "w"),
              indent=2)
    boot.finish(say, timings, problems, "ok: a real cluster booted from hardway's user-data passed the smoke test")


if __name__ == "__main__":
    main()
