#!/usr/bin/env python3
"""Forms a real 3-member etcd cluster with mutual TLS from a bundle, then uses it. Run inside a
private network namespace (all addresses are 127.x).

Each etcd member listens on its node's loopback internalIP with the bundle's etcd server and peer
certificates; the apiserver-etcd-client certificate must be able to put/get, and a client certificate
from another CA must be refused. Every process is stopped (SIGTERM, then SIGKILL) before exit.

usage: etcd_cluster.py BUNDLE WORKDIR [--units]   -> JSON on stdout
  --units: take each member's command line from the bundle's generated etcd.service instead.
"""
import json
import os
import shlex
import signal
import subprocess
import sys
import time

bundle, work = sys.argv[1:3]
use_units = "--units" in sys.argv[3:]
index = json.load(open(os.path.join(bundle, "index.json")))
members = [n for n in index["nodes"] if "etcd" in n["roles"]]
ca = os.path.join(bundle, "pki/etcd-ca.crt")


def node_pki(node, name):
    return os.path.join(bundle, "nodes", node, "pki", name)


def handwritten(m, cluster):
    ip, name = m["internalIP"], m["name"]
    return ["etcd", "--name", name, "--data-dir", os.path.join(work, name),
            "--cert-file", node_pki(name, "etcd-server.crt"), "--key-file", node_pki(name, "etcd-server.key"),
            "--peer-cert-file", node_pki(name, "etcd-peer.crt"), "--peer-key-file", node_pki(name, "etcd-peer.key"),
            "--trusted-ca-file", ca, "--peer-trusted-ca-file", ca,
            "--client-cert-auth", "--peer-client-cert-auth",
            "--initial-advertise-peer-urls", f"https://{ip}:2380", "--listen-peer-urls", f"https://{ip}:2380",
            "--listen-client-urls", f"https://{ip}:2379", "--advertise-client-urls", f"https://{ip}:2379",
            "--initial-cluster-token", "hardway-test", "--initial-cluster", cluster, "--initial-cluster-state", "new"]


def from_unit(m):
    """The ExecStart of the node's etcd.service, with node paths mapped into the bundle and work dir."""
    files = {f["path"]: os.path.join(bundle, f["source"]) for f in m["files"]}
    unit = next(f for f in m["files"] if f["path"].endswith("/etcd.service"))
    text = open(os.path.join(bundle, unit["source"])).read().replace("\\\n", " ")
    line = next(l for l in text.splitlines() if l.startswith("ExecStart="))
    argv = shlex.split(line[len("ExecStart="):])
    argv[0] = "etcd"
    out = []
    for a in argv:
        for flag_path in [a.split("=", 1)[1] if "=" in a else a]:
            if flag_path in files:
                a = a.replace(flag_path, files[flag_path])
            elif flag_path.startswith("/var/lib/etcd"):
                a = a.replace(flag_path, os.path.join(work, m["name"]))
        out.append(a)
    # Three members cannot all listen on 127.0.0.1:2379 (or :2381 for metrics) on one machine.
    ip = m["internalIP"]
    return [a.replace(",https://127.0.0.1:2379", "").replace("http://127.0.0.1:2381", f"http://{ip}:2381")
            for a in out]


cluster = ",".join(f"{m['name']}=https://{m['internalIP']}:2380" for m in members)
procs = []
logs = []
result = {"members": len(members)}
try:
    for m in members:
        os.makedirs(os.path.join(work, m["name"]), mode=0o700, exist_ok=True)
        argv = from_unit(m) if use_units else handwritten(m, cluster)
        result.setdefault("argv", []).append(argv)
        log = open(os.path.join(work, m["name"] + ".log"), "w")
        logs.append(log.name)
        procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

    endpoints = ",".join(f"https://{m['internalIP']}:2379" for m in members)

    def ctl(cert, key, *args, timeout=15):
        env = dict(os.environ, ETCDCTL_API="3")
        p = subprocess.run(["etcdctl", "--endpoints", endpoints, "--cacert", ca, "--cert", cert, "--key", key,
                            "--dial-timeout=2s", "--command-timeout=3s", *args],
                           capture_output=True, text=True, env=env, timeout=timeout)
        return p.returncode, (p.stdout + p.stderr).strip()

    client = (os.path.join(bundle, "pki/apiserver-etcd-client.crt"), os.path.join(bundle, "pki/apiserver-etcd-client.key"))
    deadline = time.time() + 30
    healthy = False
    while time.time() < deadline:
        rc, out = ctl(*client, "endpoint", "health")
        if rc == 0 and out.count("is healthy") == len(members):
            healthy = True
            break
        time.sleep(0.5)
    result["healthy"] = healthy
    result["health"] = out
    rc, out = ctl(*client, "member", "list")
    result["member_list"] = out
    rc, out = ctl(*client, "put", "/hardway/test", "deterministic")
    result["put"] = out
    rc, out = ctl(*client, "get", "/hardway/test", "--print-value-only")
    result["get"] = out
    hc = (os.path.join(bundle, "pki/etcd-healthcheck-client.crt"), os.path.join(bundle, "pki/etcd-healthcheck-client.key"))
    rc, out = ctl(*hc, "endpoint", "health")
    result["healthcheck_client_ok"] = rc == 0
    # A client certificate from the kubernetes CA (not the etcd CA) must be refused.
    adm = (os.path.join(bundle, "pki/apiserver-kubelet-client.crt"), os.path.join(bundle, "pki/apiserver-kubelet-client.key"))
    rc, out = ctl(*adm, "get", "/hardway/test", timeout=20)
    result["foreign_ca_refused"] = rc != 0
    result["foreign_ca_output"] = out[-300:]
finally:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    result["logs_tail"] = [open(l).read()[-600:] for l in logs]
print(json.dumps(result))
