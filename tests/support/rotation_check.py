#!/usr/bin/env python3
"""CA rotation against real programs. Run inside a private network namespace (addresses 127.x).

etcd: a 3-member cluster whose first member runs phase-1 certificates (generation 1 signs, both
generations trusted) and the others phase-2 certificates (generation 2 signs, both trusted): the members
must form a quorum, and the apiserver-etcd-client of either phase must put and get.
kubectl: the phase-1 admin kubeconfig (trusting both generations, a generation-1 client certificate)
must be accepted by a server with the phase-0 apiserver certificate and by one with the phase-2
certificate; the phase-0 kubeconfig (trusting generation 1 only) must refuse the phase-2 server.

usage: rotation_check.py KUBECTL PHASE0 PHASE1 PHASE2 WORKDIR  -> JSON on stdout
"""
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading

import etcdtest

kubectl, p0, p1, p2, work = sys.argv[1:6]


def idx(b):
    return json.load(open(os.path.join(b, "index.json")))


def node_src(bundle, node, path):
    n = next(x for x in idx(bundle)["nodes"] if x["name"] == node)
    return os.path.join(bundle, next(f["source"] for f in n["files"] if f["path"] == path))


result = {}
members = [n for n in idx(p1)["nodes"] if "etcd" in n["roles"]]
cluster = etcdtest.initial_cluster(members)
procs, logs = [], []
try:
    for i, m in enumerate(members):
        b = p1 if i == 0 else p2
        name = m["name"]
        pki = "/etc/kubernetes/pki/etcd/"
        argv = etcdtest.member_argv(name, m["internalIP"], os.path.join(work, name),
                                    (node_src(b, name, pki + "server.crt"), node_src(b, name, pki + "server.key")),
                                    (node_src(b, name, pki + "peer.crt"), node_src(b, name, pki + "peer.key")),
                                    node_src(b, name, pki + "ca.crt"), cluster, "rotation")
        etcdtest.start(argv, work, name, procs, logs)
    endpoints = etcdtest.endpoints(members)

    def ctl(bundle, *args):
        crt, key = (os.path.join(bundle, f"pki/apiserver-etcd-client.{x}") for x in ("crt", "key"))
        return etcdtest.ctl(endpoints, os.path.join(bundle, "pki/etcd-ca-trust.crt"), crt, key, *args)

    healthy, out = etcdtest.wait_healthy(lambda: ctl(p1, "endpoint", "health"), len(members), 40)
    result["etcd_healthy"] = healthy
    result["etcd_health"] = out[-500:]
    result["put_phase1"] = ctl(p1, "put", "/rotation/a", "one")[0] == 0
    result["get_phase2"] = ctl(p2, "get", "/rotation/a", "--print-value-only")[1]
    result["put_phase2"] = ctl(p2, "put", "/rotation/b", "two")[0] == 0
    result["get_phase1"] = ctl(p1, "get", "/rotation/b", "--print-value-only")[1]
finally:
    etcdtest.stop(procs)
    result["etcd_logs"] = [open(l).read()[-400:] for l in logs]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"gitVersion": "v1.36.2-rotation"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def server(cert_bundle, trust_bundle):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(cert_bundle, "pki/apiserver.crt"), os.path.join(cert_bundle, "pki/apiserver.key"))
    ctx.load_verify_locations(os.path.join(trust_bundle, "pki/kubernetes-ca-trust.crt"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def kube(kubeconfig, port):
    r = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "--server", f"https://127.0.0.1:{port}",
                        "--tls-server-name", "127.0.0.1", "--request-timeout", "10s", "get", "--raw", "/version"],
                       capture_output=True, text=True, timeout=30)
    return {"ok": r.returncode == 0, "out": (r.stdout + r.stderr).strip()[-300:]}


s0 = server(p0, p1)  # phase-0 apiserver certificate (generation 1), clients checked against both
s2 = server(p2, p2)  # phase-2 apiserver certificate (generation 2)
admin1 = os.path.join(p1, "kubeconfigs/admin.kubeconfig")
admin0 = os.path.join(p0, "kubeconfigs/admin.kubeconfig")
result["kubectl_phase1_to_phase0_server"] = kube(admin1, s0.server_address[1])
result["kubectl_phase1_to_phase2_server"] = kube(admin1, s2.server_address[1])
result["kubectl_phase0_to_phase2_server"] = kube(admin0, s2.server_address[1])
s0.shutdown()
s2.shutdown()
print(json.dumps(result))
