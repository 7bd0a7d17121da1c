#!/usr/bin/env python3
"""make day2-test: every Day 2 procedure of the README carried out on the real cluster of the cluster test,
with steps taken from `hardway plan --json` and nothing else, while a probe counts failed requests.

For each procedure: the topology is edited as the README says, rendered with the same seed, planned
against the running bundle, and the plan's steps run in order: its files copied onto the node named
(with their modes), its deletions, its commands (on the node, or beside the new bundle with its
kubeconfigs), its bounded waits, and what it leaves to a person where a test can do it (boot a new node
from its user-data, retire one). The harness adds no step of its own.

The probe runs the whole time: every 250 ms GET /readyz through the load balancer and a pod list with
the admin credentials, every second a ConfigMap created and deleted, every 250 ms a GET of the
workload through a NodePort, and inside the cluster a DaemonSet (hwprobe watch) calling the API at the
kubernetes Service IP with its service-account token every 250 ms. Every failure is recorded with its
time, procedure, step and error. After each procedure: every node Ready, every pod Running, and the
procedure's own proof.

Uses the cluster `HARDWAY_KEEP_CLUSTER=1 make cluster-test` left running (target/cluster-test/state.json)
and stops it at the end unless HARDWAY_KEEP_CLUSTER=1. Results: target/day2-test/results.json.
"""
import base64
import datetime
import json
import os
import shlex
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402
from cluster import boot  # noqa: E402

OUT = os.path.join(cluster.REPO, "target", "day2-test")
T0 = time.monotonic()


def say(msg):
    print(f"day2-test [{time.monotonic() - T0:5.0f}s]: {msg}", flush=True)


def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT00:00:00Z")


# ----------------------------------------------------------------------------------------------------
# The running cluster


class Live:
    def __init__(self, st):
        self.st = st
        self.ns = st["ns"]
        self.bin = st["bin"]
        self.hardway = st["hardway"]
        self.bundle = st["bundle"]
        self.work = st["work"]
        self.step_seconds = []
        self.topology = open(os.path.join(os.path.dirname(self.bundle), "topology.yaml")).read()
        self.seed = os.path.join(os.path.dirname(self.bundle), "seed")
        self.rnd = boot.Round(self.work, st["image"], None, "c")
        self.rnd.ns = self.ns
        for name, n in st["nodes"].items():
            self.rnd.nodes[name] = dict(n, proc=None, ip=None)
        self.renders = 0

    def pid(self, node):
        return self.rnd.nodes[node]["init"]

    def on(self, node, cmd, timeout=120, data=None):
        """A shell command on NODE (all its namespaces): (exit code, output)."""
        r = subprocess.run(["nsenter", "-t", str(self.pid(node)), "-a", "-r", "-w", "sh", "-c", cmd],
                           input=data, capture_output=True, timeout=timeout)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    def admin(self, cmd, cwd, timeout=300):
        """A shell command beside bundle CWD in the test network, with the built kubectl and etcdctl."""
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}")
        r = subprocess.run(["nsenter", f"--net=/run/netns/{self.ns}", "sh", "-c", cmd], cwd=cwd, env=env,
                           capture_output=True, timeout=timeout)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    def kubectl(self, args, cwd=None):
        return self.admin(f"kubectl --kubeconfig kubeconfigs/admin.kubeconfig {args}", cwd or self.bundle)

    def put(self, node, source, path, mode):
        data = open(source, "rb").read()
        q = shlex.quote(path)
        rc, out = self.on(node, f"mkdir -p \"$(dirname {q})\" && cat > {q}.hardway-new && chmod {mode} {q}.hardway-new "
                                f"&& mv {q}.hardway-new {q}", data=data)
        if rc != 0:
            raise RuntimeError(f"copying {source} to {node}:{path}: {out}")

    def render(self, topology_text, tag):
        self.renders += 1
        d = os.path.join(self.work, f"day2-{os.getpid()}-{self.renders}-{tag}")
        os.makedirs(d)
        open(os.path.join(d, "topology.yaml"), "w").write(topology_text)
        out = os.path.join(d, "bundle")
        r = subprocess.run([self.hardway, "render", os.path.join(d, "topology.yaml"), "--secret", self.seed, "--out", out],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"render {tag}: {r.stderr}")
        return out

    def boot(self, node, bundle):
        """Boots a new node from its user-data, as the cluster test boots every node."""
        index = json.load(open(os.path.join(bundle, "index.json")))
        n = next(x for x in index["nodes"] if x["name"] == node)
        cluster.publish_archives(bundle, self.st["mirror"])
        lowers = [self.st["layers"]["node"]] + ([self.st["layers"]["bin"]] if n["binaries"] == "preinstalled" else [])
        args = list(cluster.NSPAWN_ARGS)
        if "worker" in n["roles"]:
            state = os.path.join(self.work, f"containerd-{node}")
            os.makedirs(state, exist_ok=True)
            args.append(f"--bind={state}:/var/lib/containerd")
        self.rnd.start(node, n["internalIP"], cluster.user_data(bundle, n), lowers=lowers, nspawn_args=args,
                       init="/usr/local/sbin/hardway-test-init", hierarchies=cluster.HIERARCHIES)
        self.rnd.init_pid(node, timeout=60)
        self.st["nodes"][node] = {k: self.rnd.nodes[node][k] for k in ("root", "pid", "init", "cgroups")}
        self.save()

    def retire(self, node):
        """Powers a node off and removes it (its machine is retired)."""
        n = self.rnd.nodes.pop(node)
        gone = boot.Round(self.work, None, None, "gone")
        gone.ns = self.ns
        gone.nodes[node] = n
        gone.terminate = lambda: None
        try:
            os.kill(n["pid"], 15)
        except (ProcessLookupError, TypeError):
            pass
        # 5 s to power off, then killed, as a cloud terminates an instance (the plan drained it first).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and os.path.exists(f"/proc/{n['pid']}"):
            time.sleep(0.5)
        for pid in (n["init"], n["pid"]):
            try:
                os.kill(pid, 9)
            except (ProcessLookupError, TypeError):
                pass
        boot.kill_cgroup(n["cgroups"])
        subprocess.run(["umount", "-l", n["root"]], capture_output=True)
        for cg in reversed(n["cgroups"]):
            boot.remove_cgroup(cg)
        self.st["nodes"].pop(node, None)
        self.save()

    def save(self):
        json.dump(self.st, open(cluster.state_file(), "w"))


# ----------------------------------------------------------------------------------------------------
# The probe


class Probe:
    """The probe: a child process in the test network (`day2.py probe`) making the requests, and the
    in-cluster DaemonSet's log; this side switches its credentials and tells failures' steps apart."""

    def __init__(self, live):
        self.live = live
        self.dir = tempfile.mkdtemp(prefix="hardway-day2-probe-")
        self.log = os.path.join(self.dir, "probe.log")
        self.timeline = []  # (unix time, procedure, step)
        self.procedure, self._step = "setup", ""
        self.use(live.bundle)
        index = json.load(open(os.path.join(live.bundle, "index.json")))
        self.url = index["apiServer"]["url"]
        self.nodeport = f"http://{cluster.NET}.31:30080/"

    @property
    def step(self):
        return self._step

    @step.setter
    def step(self, value):
        self._step = value
        self.timeline.append((time.time(), self.procedure, value))

    def use(self, bundle):
        """Credentials and trust of BUNDLE's admin kubeconfig (once the plan handed it out)."""
        kc = open(os.path.join(bundle, "kubeconfigs/admin.kubeconfig")).read()

        def field(name):
            line = next(l for l in kc.splitlines() if l.strip().startswith(name + ":"))
            return base64.b64decode(line.split(":", 1)[1].strip().strip('"'))
        n = len([f for f in os.listdir(self.dir) if f.endswith("-ca")])
        for suffix, name in (("ca", "certificate-authority-data"), ("crt", "client-certificate-data"),
                             ("key", "client-key-data")):
            open(os.path.join(self.dir, f"{n}-{suffix}"), "wb").write(field(name))
        open(os.path.join(self.dir, "current.new"), "w").write(str(n))
        os.rename(os.path.join(self.dir, "current.new"), os.path.join(self.dir, "current"))

    def start(self):
        self.proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{self.live.ns}", sys.executable,
                                      os.path.abspath(__file__), "probe", self.dir, self.url, self.nodeport],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "probe.err"), "w"))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def where(self, at):
        """The procedure and step running at unix time AT."""
        cur = ("setup", "")
        for t, proc, step in self.timeline:
            if t > at:
                break
            cur = (proc, step)
        return cur

    def results(self, since, until):
        """(requests, failures) of the probe process between SINCE and UNTIL (unix seconds)."""
        reqs, fails = 0, []
        for line in open(self.log, errors="replace") if os.path.exists(self.log) else []:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            at = float(parts[0])
            if since <= at <= until:
                reqs += 1
                if parts[2] == "fail":
                    fails.append((at, self.where(at)[1], parts[1], parts[3] if len(parts) > 3 else ""))
        return reqs, fails

    def in_cluster(self, since, until):
        """(requests, failures) of the in-cluster probe between SINCE and UNTIL (unix seconds)."""
        reqs, fails = 0, []
        for node in ("w-0", "w-1"):
            root = self.live.rnd.nodes.get(node, {}).get("root")
            d = os.path.join(root or "/nonexistent", "var/lib/hwprobe")
            for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                for line in open(os.path.join(d, f), errors="replace"):
                    parts = line.split(" ", 2)
                    try:
                        at = int(parts[0]) / 1000
                    except (ValueError, IndexError):
                        continue
                    if since <= at <= until:
                        reqs += 1
                        if parts[1].startswith("fail"):
                            fails.append((at, self.where(at)[1], f"in-cluster API call ({node})",
                                          parts[2].strip() if len(parts) > 2 else ""))
        return reqs, fails


def probe_main(d, url, nodeport):
    """`day2.py probe DIR URL NODEPORT`: the requests, run inside the test network; one line per request
    appended to DIR/probe.log: TIME<TAB>KIND<TAB>ok|fail[<TAB>ERROR]."""
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    log = open(os.path.join(d, "probe.log"), "a", buffering=1)
    lock = threading.Lock()
    state = {"current": None, "anon": None, "auth": None}

    def contexts():
        cur = open(os.path.join(d, "current")).read().strip()
        if cur != state["current"]:
            ca, crt, key = (os.path.join(d, f"{cur}-{x}") for x in ("ca", "crt", "key"))
            anon = ssl.create_default_context(cafile=ca)
            auth = ssl.create_default_context(cafile=ca)
            auth.load_cert_chain(crt, key)
            state.update(current=cur, anon=anon, auth=auth)
        return state["anon"], state["auth"]

    def request(kind, u, ctx=None, method="GET", body=None):
        at = time.time()
        req = urllib.request.Request(u, method=method, data=body, headers={"Content-Type": "application/json"})
        err = None
        try:
            handlers = [urllib.request.ProxyHandler({})] + ([urllib.request.HTTPSHandler(context=ctx)] if ctx else [])
            with urllib.request.build_opener(*handlers).open(req, timeout=5) as r:
                r.read()
        except urllib.error.HTTPError as e:
            err = f"HTTP {e.code}: {e.read()[:200]!r}"
        except Exception as e:  # noqa: BLE001 - every failure counts, whatever raised it
            err = str(e)
        with lock:
            log.write(f"{at:.3f}\t{kind}\t" + ("ok\n" if err is None else f"fail\t{err[:300]}\n"))

    def fast():
        while True:
            t = time.monotonic()
            anon, auth = contexts()
            request("readyz via load balancer", url + "/readyz", anon)
            request("pod list via load balancer", url + "/api/v1/pods?limit=5", auth)
            request("workload via NodePort", nodeport)
            time.sleep(max(0, 0.25 - (time.monotonic() - t)))

    def slow():
        i = 0
        while True:
            t = time.monotonic()
            _, auth = contexts()
            name = f"day2-probe-{i % 3}"
            cm = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}).encode()
            request("ConfigMap create", url + "/api/v1/namespaces/default/configmaps", auth, "POST", cm)
            request("ConfigMap delete", url + f"/api/v1/namespaces/default/configmaps/{name}", auth, "DELETE")
            i += 1
            time.sleep(max(0, 1.0 - (time.monotonic() - t)))

    del opener
    threading.Thread(target=slow, daemon=True).start()
    fast()


PROBE_DS = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: hwprobe-watch}
spec:
  selector: {matchLabels: {app: hwprobe-watch}}
  template:
    metadata: {labels: {app: hwprobe-watch}}
    spec:
      containers:
        - name: watch
          image: hardway.test/hwprobe:1
          imagePullPolicy: Never
          command: ["/hwprobe", "watch"]
          args: ["/data/$(POD_NAME).log", "250"]
          env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
          volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, hostPath: {path: /var/lib/hwprobe, type: DirectoryOrCreate}}]
"""


# ----------------------------------------------------------------------------------------------------
# Carrying out a plan


def execute(live, probe, name, old, new):
    """Plans OLD -> NEW and runs its steps; returns (steps, plan)."""
    r = subprocess.run([live.hardway, "plan", old, new, "--json"], capture_output=True, text=True, timeout=120)
    plan = json.loads(r.stdout or "{}")
    if r.returncode != 0 or not plan.get("safe"):
        raise RuntimeError(f"{name}: plan is not safe (exit {r.returncode}): {r.stderr} "
                           f"{json.dumps(plan.get('unsafeTransitions'))}")
    timings = []
    for i, step in enumerate(plan["steps"]):
        probe.step = f"{i + 1}. {step['title']}"
        t_step = time.monotonic()
        node = step.get("node")
        for f in step.get("install", []):
            live.put(node, os.path.join(new, f["source"]), f["path"], f["mode"])
        for path in step.get("remove", []):
            live.on(node, f"rm -f {shlex.quote(path)}")
        manual = step.get("manual", "")
        if manual.startswith("boot "):
            live.boot(manual.split()[1], new)
        elif manual.startswith("retire the machine "):
            live.retire(manual.split()[-1])
        elif "hand out the changed kubeconfigs" in step["title"]:
            probe.use(new)
        elif manual:
            raise RuntimeError(f"{name}: step {probe.step} asks for what the test cannot do: {manual}")
        for c in step.get("commands", []):
            rc, out = live.on(node, c, timeout=600) if node else live.admin(c, new, timeout=600)
            if rc != 0:
                raise RuntimeError(f"{name}: step {probe.step}: `{c}` on {node or 'the admin host'}: exit {rc}\n{out[-2000:]}")
        w = step.get("wait")
        if w:
            deadline = time.monotonic() + w["timeoutSeconds"]
            while True:
                rc, out = live.on(node, w["command"], timeout=120) if node else live.admin(w["command"], new, timeout=120)
                if rc == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: step {probe.step}: waited {w['timeoutSeconds']} s for "
                                       f"`{w['command']}`:\n{out[-2000:]}")
                time.sleep(1)
        timings.append({"step": probe.step, "node": node, "seconds": round(time.monotonic() - t_step, 1)})
    probe.step = "after the steps"
    live.step_seconds.extend(timings)
    return len(plan["steps"]), plan


def healthy(live, bundle):
    """Every node Ready, every pod Running (none restarting), every unit of every node steadily active."""
    deadline = time.monotonic() + 240
    while True:
        problems = []
        rc, out = live.kubectl("get nodes -o json", bundle)
        nodes = json.loads(out)["items"] if rc == 0 else []
        for n in nodes:
            if not any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]):
                problems.append(f"node {n['metadata']['name']} not Ready")
        rc, out = live.kubectl("get pods -A -o json", bundle)
        for p in (json.loads(out)["items"] if rc == 0 else []):
            ready = all(c.get("ready") for c in p["status"].get("containerStatuses", []))
            if p["status"].get("phase") != "Running" or not ready:
                problems.append(f"pod {p['metadata']['namespace']}/{p['metadata']['name']} {p['status'].get('phase')}")
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(3)
    index = json.load(open(os.path.join(bundle, "index.json")))
    c = cluster.Cluster(live.rnd, bundle, index, live.bin)
    for n in index["nodes"]:
        problems += cluster.unit_problems(c, n["name"], patience=120)
    return problems


# ----------------------------------------------------------------------------------------------------
# Proofs


def leaves_on_nodes(live, bundle, want_not_before):
    """Every certificate file on every node of BUNDLE starts at WANT_NOT_BEFORE (CAs excepted)."""
    index = json.load(open(os.path.join(bundle, "index.json")))
    cas = {c["cert"] for c in index["certificates"] if c["issuer"] == c["name"]}
    bad = []
    for n in index["nodes"]:
        for f in n["files"]:
            if not f["path"].endswith(".crt") or f["source"] in cas or "-trust" in f["source"] or "-gen" in f["source"]:
                continue
            if f["path"].endswith("/ca.crt") or f["path"].endswith("ca-signing.crt") or f["path"].endswith("-ca.crt"):
                continue
            rc, out = live.on(n["name"], f"openssl x509 -noout -startdate -in {f['path']}")
            got = datetime.datetime.strptime(out.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
            if got.strftime("%Y-%m-%dT%H:%M:%SZ") != want_not_before:
                bad.append(f"{n['name']}:{f['path']} starts {got}")
    return bad


def raw_secret_prefixes(live, bundle):
    """The encryption prefix of every Secret's raw etcd value."""
    index = json.load(open(os.path.join(bundle, "index.json")))
    c = cluster.Cluster(live.rnd, bundle, index, live.bin)
    keys = c.etcdctl_raw("get", "/registry/secrets/", "--prefix", "--keys-only").decode().split()
    out = {}
    for k in keys:
        v = c.etcdctl_raw("get", k, "--print-value-only")
        out[k] = v[:v.index(b":", v.index(b":v1:") + 4)].decode(errors="replace") if b":v1:" in v else v[:12].decode(errors="replace")
    return out


def proof_renewal(live, ctx):
    return leaves_on_nodes(live, live.bundle, ctx["t"])


def ski(pem_file):
    """The subject key identifier of a certificate file, as openssl prints it."""
    out = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectKeyIdentifier", "-in", pem_file],
                         capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1].strip()


def publish_cluster_info(live):
    """cluster-info as a kubeadm-style cluster publishes it (hardway does not): the plan must update it."""
    kc = os.path.join(live.work, "cluster-info.kubeconfig")
    live.admin(f"kubectl config set-cluster real --server=https://{cluster.NET}.20:6443 "
               f"--certificate-authority=pki/kubernetes-ca.crt --embed-certs=true --kubeconfig={kc}", live.bundle)
    rc, out = live.admin(f"kubectl --kubeconfig kubeconfigs/admin.kubeconfig -n kube-public create configmap cluster-info "
                         f"--from-file=kubeconfig={kc} --dry-run=client -o yaml | kubectl --kubeconfig "
                         f"kubeconfigs/admin.kubeconfig apply -f -", live.bundle)
    if rc != 0:
        raise RuntimeError(f"publishing cluster-info: {out}")


def proof_ca(live, ctx):
    """After phase 3: generation 1 refused by the apiserver and a kubelet; the bootstrapped kubelet's
    certificates, pods' CA files, kube-root-ca.crt and cluster-info of generation 2 only."""
    bad = []
    old, new = ctx["first"], live.bundle
    gen2 = ski(os.path.join(new, "pki/kubernetes-ca-gen2.crt"))
    gen1 = ski(os.path.join(old, "pki/kubernetes-ca.crt"))
    rc, out = live.admin(f"curl -sk -o /dev/null -w '%{{http_code}}' --cert {old}/pki/admin.crt --key {old}/pki/admin.key "
                         f"https://{cluster.NET}.20:6443/api", new)
    if out.strip() != "401":
        bad.append(f"a generation-1 client certificate got HTTP {out.strip()} from the apiserver, not 401")
    rc, out = live.admin(f"curl -sk -o /dev/null -w '%{{http_code}}' --cert {old}/pki/apiserver-kubelet-client.crt "
                         f"--key {old}/pki/apiserver-kubelet-client.key https://{cluster.NET}.31:10250/pods", new)
    if out.strip() not in ("000", "401"):
        bad.append(f"a generation-1 client certificate got HTTP {out.strip()} from w-0's kubelet")
    for f in ("kubelet-client-current.pem", "kubelet-server-current.pem"):
        rc, out = live.on("w-1", f"openssl x509 -noout -ext authorityKeyIdentifier -in /var/lib/kubelet/pki/{f}")
        if gen2 not in out:
            bad.append(f"w-1's {f} is not issued by generation 2: {out.strip()}")
    rc, out = live.kubectl("-n default get configmap kube-root-ca.crt -o 'jsonpath={.data.ca\\.crt}'", new)
    if open(os.path.join(new, "pki/kubernetes-ca-trust.crt")).read().strip() != out.strip():
        bad.append("kube-root-ca.crt does not hold the new trust bundle")
    rc, out = live.on("w-0", "cat /var/lib/kubelet/pods/*/volumes/kubernetes.io~projected/*/ca.crt")
    if gen1 in subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectKeyIdentifier"], input=out, capture_output=True,
                              text=True).stdout or not out.strip():
        bad.append("a pod on w-0 still trusts generation 1")
    rc, out = live.kubectl("-n kube-public get configmap cluster-info -o jsonpath={.data.kubeconfig}", new)
    trust = base64.b64encode(open(os.path.join(new, "pki/kubernetes-ca-trust.crt"), "rb").read()).decode()
    if trust not in out:
        bad.append("cluster-info does not carry the new trust bundle")
    return bad


def token_works(live, token):
    rc, out = live.admin(f"curl -s -o /dev/null -w '%{{http_code}}' --cacert pki/kubernetes-ca-trust.crt "
                         f"-H 'Authorization: Bearer {token}' https://{cluster.NET}.20:6443/api", live.bundle)
    return out.strip()


def proof_sa(live, ctx):
    """A token signed by key 1 works while key 1 is trusted and is refused once it is dropped; the pods
    the plan restarted call the API (the in-cluster probe)."""
    bad = []
    if ctx.get("old_token_in_phase2") != "200":
        bad.append(f"a token of key 1 got {ctx.get('old_token_in_phase2')} while key 1 was trusted")
    after = token_works(live, ctx["old_token"])
    if after != "401":
        bad.append(f"a token of key 1 got {after} after key 1 was dropped, not 401")
    return bad


def proof_encryption(live, ctx):
    """Every Secret's raw etcd value under key2 (secretbox), and every Secret reads back."""
    bad = [f"{k}: {v}" for k, v in raw_secret_prefixes(live, live.bundle).items() if v != "k8s:enc:secretbox:v1:key2"]
    rc, out = live.kubectl("get secrets -A -o name", live.bundle)
    if rc != 0 or "kubernetes-the-hard-way" not in out:
        bad.append(f"the Secrets do not read back: {out[-300:]}")
    return bad


def proof_nodes(added, removed=None):
    def proof(live, ctx):
        rc, out = live.kubectl("get nodes -o name", live.bundle)
        names = {l.split("/", 1)[1] for l in out.split()}
        bad = []
        if added and added not in names:
            bad.append(f"{added} is not a node")
        if removed and removed in names:
            bad.append(f"{removed} is still a node")
        return bad
    return proof


def proof_etcd(members):
    def proof(live, ctx):
        index = json.load(open(os.path.join(live.bundle, "index.json")))
        c = cluster.Cluster(live.rnd, live.bundle, index, live.bin)
        r = c.etcdctl("member", "list")
        n = len([l for l in r.stdout.splitlines() if l.strip()])
        health = c.etcdctl("endpoint", "health")
        bad = [] if n == members else [f"{n} etcd members, expected {members}: {r.stdout}"]
        if health.returncode != 0:
            bad.append(f"etcd not healthy: {health.stdout}{health.stderr}")
        return bad
    return proof


# ----------------------------------------------------------------------------------------------------


def edit_pki(text, extra):
    head, rest = text.split("pki: {notBefore: ", 1)
    value, tail = rest.split("}", 1)
    return f"{head}pki: {{notBefore: {value}{extra}}}{tail}"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "probe":
        probe_main(*sys.argv[2:5])
        return
    if os.geteuid() != 0:
        cluster.skip_or_fail("needs root")
    try:
        st = json.load(open(cluster.state_file()))
    except (OSError, ValueError):
        cluster.skip_or_fail("no running cluster: run HARDWAY_KEEP_CLUSTER=1 make cluster-test first (make test does)")
    os.makedirs(OUT, exist_ok=True)
    live = Live(st)
    keep = os.environ.get("HARDWAY_KEEP_CLUSTER") == "1"
    results, problems = [], []
    probe = None
    try:
        r = subprocess.run(["nsenter", f"--net=/run/netns/{live.ns}", os.path.join(live.bin, "kubectl"), "--kubeconfig",
                            os.path.join(live.bundle, "kubeconfigs/admin.kubeconfig"), "apply", "-f", "-"],
                           input=PROBE_DS, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"probe DaemonSet: {r.stderr}")
        live.kubectl("rollout status daemonset/hwprobe-watch --timeout=120s")
        probe = Probe(live)
        probe.start()
        time.sleep(5)
        base = live.topology
        first = live.bundle
        t = today()
        ca = f', caGenerations: {{2: "{t}"}}'
        key_ring = lambda keys: base.replace("encryption: {keys: [key1]}", f"encryption: {{keys: [{keys}]}}")  # noqa: E731
        ca3 = edit_pki(base, f', leafNotBefore: "{t}"{ca}, signingCA: 2, trustedCAs: [2]')
        sa = lambda spec: edit_pki(base, f', leafNotBefore: "{t}"{ca}, signingCA: 2, trustedCAs: [2], serviceAccountKeys: {spec}')  # noqa: E731
        sa3 = sa("{signing: 2, trusted: [2]}")
        enc = lambda keys: sa3.replace("encryption: {keys: [key1]}", f"encryption: {{keys: [{keys}]}}")  # noqa: E731
        final = enc("key2")
        w2 = f"  - {{name: w-2, internalIP: {cluster.NET}.33, roles: [worker]}}\n"
        w3 = f"  - {{name: w-3, internalIP: {cluster.NET}.34, roles: [worker], kubeletCredentials: bootstrap}}\n"
        e0 = f"  - {{name: e-0, internalIP: {cluster.NET}.14, roles: [etcd], etcdInitialClusterState: existing}}\n"
        del key_ring
        procedures = [
            ("renewal", [edit_pki(base, f', leafNotBefore: "{t}"')], proof_renewal),
            ("cluster CA rotation (the etcd and front-proxy CAs rotate with it)", [
                edit_pki(base, f', leafNotBefore: "{t}"{ca}, trustedCAs: [1, 2]'),
                edit_pki(base, f', leafNotBefore: "{t}"{ca}, signingCA: 2, trustedCAs: [2, 1]'),
                ca3,
            ], proof_ca),
            ("service-account key rotation", [
                sa("{signing: 1, trusted: [1, 2]}"), sa("{signing: 2, trusted: [1, 2]}"), sa3,
            ], proof_sa),
            ("encryption key rotation", [enc("key1, key2"), enc("key2, key1"), final], proof_encryption),
            ("nodes: a worker with certificates added", [final + w2], proof_nodes("w-2")),
            ("nodes: a TLS-bootstrapping worker added", [final + w2 + w3], proof_nodes("w-3")),
            ("nodes: a worker removed", [final + w3], proof_nodes(None, "w-2")),
            ("nodes: an etcd member added", [final + w3 + e0], proof_etcd(4)),
            ("nodes: an etcd member removed", [final + w3], proof_etcd(3)),
        ]
        ctx = {"first": first, "t": t}
        for name, steps, proof_fn in procedures:
            t0, w0 = time.monotonic(), time.time()
            probe.procedure = name
            n_steps = 0
            live.step_seconds = []
            ctx["before"] = live.bundle
            if proof_fn is proof_sa:
                ctx["old_token"] = live.kubectl("create token default --duration=2h", live.bundle)[1].strip()
            if proof_fn is proof_ca:
                publish_cluster_info(live)
            for i, text in enumerate(steps):
                new = live.render(text, f"{name.split()[0].strip(':')}-{i + 1}")
                say(f"{name}, render {i + 1}/{len(steps)}: planning and carrying out")
                n, _ = execute(live, probe, name, live.bundle, new)
                n_steps += n
                live.bundle = new
                live.st["bundle"] = new
                live.save()
                probe.use(new)
                if proof_fn is proof_sa and i == 1:
                    ctx["old_token_in_phase2"] = token_works(live, ctx["old_token"])
            hp = healthy(live, live.bundle)
            proof = proof_fn(live, ctx)
            w1 = time.time()
            reqs, fails = probe.results(w0, w1)
            in_reqs, in_fails = probe.in_cluster(w0, w1)
            results.append({
                "procedure": name, "steps": n_steps, "seconds": round(time.monotonic() - t0),
                "requests": reqs + in_reqs,
                "failures": [{"time": f[0], "step": f[1], "kind": f[2], "error": f[3]} for f in fails + in_fails],
                "declaredWindows": [],
                "healthAfter": hp, "proof": proof,
                "stepSeconds": live.step_seconds,
            })
            slow = sorted(live.step_seconds, key=lambda x: -x["seconds"])[:3]
            say(f"{name}: slowest steps: " + "; ".join(f"{x['step']} ({x['node'] or 'admin'}) {x['seconds']} s" for x in slow))
            say(f"{name}: {n_steps} steps, {round(time.monotonic() - t0)} s, {results[-1]['requests']} requests, "
                f"{len(results[-1]['failures'])} failed; health {hp or 'ok'}; proof {proof or 'ok'}")
            problems += [f"{name}: {p}" for p in hp + proof]
            problems += [f"{name}: failed request: {f}" for f in results[-1]["failures"][:20]]
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        problems.append(str(e))
    finally:
        if probe:
            probe.stop()
        json.dump(results, open(os.path.join(OUT, "results.json"), "w"), indent=2)
        if not keep:
            cluster.down()
    boot.finish(say, {"total s": round(time.monotonic() - T0)}, problems,
                "ok: every Day 2 procedure carried out from hardway plan with no failed request")


if __name__ == "__main__":
    main()
