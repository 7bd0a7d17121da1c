#!/usr/bin/env python3
"""Forms a real 3-member etcd cluster with mutual TLS from a bundle, then uses it. Run inside a
private network namespace (all addresses are 127.x).

Each etcd member listens on its node's loopback internalIP with the bundle's etcd server and peer
certificates; the apiserver-etcd-client certificate must be able to put/get, and a client certificate
from another CA must be refused. Every process is stopped (SIGTERM, then SIGKILL) before exit.

usage: etcd_cluster.py BUNDLE WORKDIR [--units] [--join BUNDLE2]   -> JSON on stdout
  --units: take each member's command line from the bundle's generated etcd.service instead.
  --join BUNDLE2: BUNDLE2 is the same cluster with one etcd member more, marked as joining; once the
    first members work, it is added (etcdctl member add) and started from BUNDLE2's etcd.service, and
    must become healthy and serve what was written before it joined.
"""
import json
import os
import shlex
import sys
import time

import etcdtest

bundle, work = sys.argv[1:3]
use_units = "--units" in sys.argv[3:]
join = sys.argv[sys.argv.index("--join") + 1] if "--join" in sys.argv else None
index = json.load(open(os.path.join(bundle, "index.json")))
members = [n for n in index["nodes"] if "etcd" in n["roles"]]
ca = os.path.join(bundle, "pki/etcd-ca.crt")


def node_pki(node, name):
    return os.path.join(bundle, "nodes", node, "pki", name)


def handwritten(m, cluster):
    name = m["name"]
    return etcdtest.member_argv(name, m["internalIP"], os.path.join(work, name),
                                (node_pki(name, "etcd-server.crt"), node_pki(name, "etcd-server.key")),
                                (node_pki(name, "etcd-peer.crt"), node_pki(name, "etcd-peer.key")),
                                ca, cluster, "hardway-test")


def from_unit(m, bundle=bundle):
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


cluster = etcdtest.initial_cluster(members)
procs = []
logs = []
result = {"members": len(members)}
try:
    for m in members:
        argv = from_unit(m) if use_units else handwritten(m, cluster)
        result.setdefault("argv", []).append(argv)
        etcdtest.start(argv, work, m["name"], procs, logs)

    endpoints = etcdtest.endpoints(members)

    def ctl(cert, key, *args, timeout=15):
        return etcdtest.ctl(endpoints, ca, cert, key, *args, timeout=timeout)

    client = (os.path.join(bundle, "pki/apiserver-etcd-client.crt"), os.path.join(bundle, "pki/apiserver-etcd-client.key"))
    healthy, out = etcdtest.wait_healthy(lambda: ctl(*client, "endpoint", "health"), len(members), 30)
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
    if join:
        index2 = json.load(open(os.path.join(join, "index.json")))
        new = [n for n in index2["nodes"] if n["name"] in index2["etcd"].get("joining", [])]
        assert len(new) == 1, "BUNDLE2 must mark exactly one member as joining"
        m = new[0]
        peer = f"https://{m['internalIP']}:2380"
        # etcd refuses a member add ("unhealthy cluster") until every member has been connected to
        # the others for a few seconds (strict reconfiguration check): retry for a bounded time.
        deadline = time.time() + 30
        while True:
            rc, out = ctl(*client, "member", "add", m["name"], f"--peer-urls={peer}")
            if rc == 0 or time.time() > deadline:
                break
            time.sleep(1)
        result["member_add"] = out[-300:]
        argv = from_unit(m, join)
        result["join_argv"] = argv
        etcdtest.start(argv, work, m["name"], procs, logs)
        members2 = [n for n in index2["nodes"] if "etcd" in n["roles"]]
        eps2 = etcdtest.endpoints(members2)
        healthy, out = etcdtest.wait_healthy(
            lambda: etcdtest.ctl(eps2, ca, *client, "endpoint", "health"), len(members2), 30)
        result["join_healthy"] = healthy
        result["join_health"] = out
        # The new member serves what was written before it joined (a serializable read is local).
        rc, out = etcdtest.ctl(f"https://{m['internalIP']}:2379", ca, *client, "get", "/hardway/test",
                               "--print-value-only", "--consistency=s")
        result["join_get"] = out
finally:
    etcdtest.stop(procs)
    result["logs_tail"] = [open(l).read()[-600:] for l in logs]
print(json.dumps(result))
