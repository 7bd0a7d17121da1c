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
        d = os.path.join(self.work, f"day2-{self.renders}-{tag}")
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
        deadline = time.monotonic() + 30
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
    """Requests through the load balancer and a NodePort from the host, and the in-cluster DaemonSet's log."""

    def __init__(self, live):
        self.live = live
        self.failures = []  # (unix time, procedure, step, kind, error)
        self.requests = 0
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.procedure, self.step = "setup", ""
        self.creds_dir = tempfile.mkdtemp(prefix="hardway-day2-probe-")
        self.use(live.bundle)
        index = json.load(open(os.path.join(live.bundle, "index.json")))
        self.url = index["apiServer"]["url"]
        self.nodeport = f"http://{cluster.NET}.31:30080/"

    def use(self, bundle):
        """Credentials and trust of BUNDLE's admin kubeconfig (once the plan handed it out)."""
        kc = open(os.path.join(bundle, "kubeconfigs/admin.kubeconfig")).read()
        def field(name):
            line = next(l for l in kc.splitlines() if l.strip().startswith(name + ":"))
            return base64.b64decode(line.split(":", 1)[1].strip().strip('"'))
        n = len(os.listdir(self.creds_dir))
        ca, crt, key = (os.path.join(self.creds_dir, f"{n}-{x}") for x in ("ca", "crt", "key"))
        open(ca, "wb").write(field("certificate-authority-data"))
        open(crt, "wb").write(field("client-certificate-data"))
        open(key, "wb").write(field("client-key-data"))
        anon = ssl.create_default_context(cafile=ca)
        auth = ssl.create_default_context(cafile=ca)
        auth.load_cert_chain(crt, key)
        with self.lock:
            self.anon, self.auth = anon, auth

    def record(self, kind, err):
        with self.lock:
            self.failures.append((time.time(), self.procedure, self.step, kind, str(err)[:300]))

    def request(self, kind, url, ctx=None, method="GET", body=None):
        with self.lock:
            self.requests += 1
        req = urllib.request.Request(url, method=method, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
                r.read()
                if r.status >= 300:
                    self.record(kind, f"HTTP {r.status}")
        except urllib.error.HTTPError as e:
            self.record(kind, f"HTTP {e.code}: {e.read()[:200]!r}")
        except Exception as e:  # noqa: BLE001 - every failure counts, whatever raised it
            self.record(kind, e)

    def fast(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            self.request("readyz via load balancer", self.url + "/readyz", self.anon)
            self.request("pod list via load balancer", self.url + "/api/v1/pods?limit=5", self.auth)
            self.request("workload via NodePort", self.nodeport)
            time.sleep(max(0, 0.25 - (time.monotonic() - t)))

    def slow(self):
        i = 0
        while not self.stop_ev.is_set():
            t = time.monotonic()
            name = f"day2-probe-{i % 3}"
            cm = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}).encode()
            self.request("ConfigMap create", self.url + "/api/v1/namespaces/default/configmaps", self.auth, "POST", cm)
            self.request("ConfigMap delete", self.url + f"/api/v1/namespaces/default/configmaps/{name}", self.auth,
                         "DELETE")
            i += 1
            time.sleep(max(0, 1.0 - (time.monotonic() - t)))

    def start(self):
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self.fast, self.slow)]
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=10)

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
                            fails.append((at, node, parts[2].strip() if len(parts) > 2 else ""))
        return reqs, fails


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
    for i, step in enumerate(plan["steps"]):
        probe.step = f"{i + 1}. {step['title']}"
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
                time.sleep(2)
    probe.step = "after the steps"
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


# ----------------------------------------------------------------------------------------------------


def edit_pki(text, extra):
    head, rest = text.split("pki: {notBefore: ", 1)
    value, tail = rest.split("}", 1)
    return f"{head}pki: {{notBefore: {value}{extra}}}{tail}"


def main():
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
        t = today()
        procedures = [
            ("renewal", [edit_pki(base, f', leafNotBefore: "{t}"')]),
            ("cluster CA rotation (etcd and front-proxy CAs with it)", [
                edit_pki(base, f', leafNotBefore: "{t}", caGenerations: {{2: "{t}"}}, trustedCAs: [1, 2]'),
                edit_pki(base, f', leafNotBefore: "{t}", caGenerations: {{2: "{t}"}}, signingCA: 2, trustedCAs: [2, 1]'),
                edit_pki(base, f', leafNotBefore: "{t}", caGenerations: {{2: "{t}"}}, signingCA: 2, trustedCAs: [2]'),
            ]),
        ]
        current = base
        for name, steps in procedures:
            t0, w0 = time.monotonic(), time.time()
            probe.procedure = name
            n_steps = 0
            before_bundle = live.bundle
            fails_before = len(probe.failures)
            reqs_before = probe.requests
            for i, text in enumerate(steps):
                new = live.render(text, f"{name.split()[0]}-{i + 1}")
                say(f"{name}, render {i + 1}/{len(steps)}: planning and carrying out")
                n, _ = execute(live, probe, name, live.bundle, new)
                n_steps += n
                live.bundle, current = new, text
                probe.use(new)
            hp = healthy(live, live.bundle)
            proof = []
            if name == "renewal":
                proof = leaves_on_nodes(live, live.bundle, t)
            in_reqs, in_fails = probe.in_cluster(w0, time.time())
            fails = probe.failures[fails_before:]
            results.append({
                "procedure": name, "steps": n_steps, "seconds": round(time.monotonic() - t0),
                "requests": probe.requests - reqs_before + in_reqs,
                "failures": [{"time": f[0], "step": f[2], "kind": f[3], "error": f[4]} for f in fails]
                + [{"time": f[0], "step": "", "kind": f"in-cluster API call from {f[1]}", "error": f[2]} for f in in_fails],
                "declaredWindows": [],
                "healthAfter": hp, "proof": proof,
            })
            say(f"{name}: {n_steps} steps, {round(time.monotonic() - t0)} s, {results[-1]['requests']} requests, "
                f"{len(results[-1]['failures'])} failed; health {hp or 'ok'}; proof {proof or 'ok'}")
            problems += [f"{name}: {p}" for p in hp + proof]
            problems += [f"{name}: failed request: {f}" for f in results[-1]["failures"][:20]]
            _ = before_bundle
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
