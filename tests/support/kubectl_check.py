#!/usr/bin/env python3
"""Proves kubeconfigs end to end with the real kubectl. Run inside a private network namespace.

A minimal HTTPS server on 127.0.0.1 uses the bundle's apiserver certificate and key, verifies any client
certificate against the kubernetes CA (a certificate from another CA fails the handshake), and answers
/version with a kube-apiserver-like body that also echoes the client certificate's CN and O, and the
bearer token if one was sent (bootstrap kubeconfigs). Every kubeconfig of index.json is used with kubectl, once with the
server overridden to the mock and its original host as --tls-server-name (so the apiserver certificate
must be valid for the endpoint name), and the identity it presented is reported. A kubeconfig used on
nodes names the node's CA, certificate and key files: it is used as a node would see it, each node path
mapped to the bundle file index.json places there on a node that gets the kubeconfig (a path no such
node gets fails). A kubeconfig from another bundle (another seed) must be refused.

usage: kubectl_check.py KUBECTL BUNDLE OTHER_BUNDLE  -> JSON on stdout
"""
import http.server
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.parse

import yaml

kubectl, bundle, other = sys.argv[1:4]
index = json.load(open(os.path.join(bundle, "index.json")))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        peer = self.connection.getpeercert() or {}
        cn, orgs = None, []
        for rdn in peer.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
                elif k == "organizationName":
                    orgs.append(v)
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        body = json.dumps({"major": "1", "minor": "36", "gitVersion": "v1.36.2-mock", "platform": "linux/amd64",
                           "clientCN": cn, "clientO": orgs, "token": token}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(bundle, "pki/apiserver.crt"), os.path.join(bundle, "pki/apiserver.key"))
ctx.load_verify_locations(os.path.join(bundle, "pki/kubernetes-ca.crt"))
ctx.verify_mode = ssl.CERT_OPTIONAL
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()


def call(kubeconfig, tls_name):
    args = [kubectl, "--kubeconfig", kubeconfig, "--server", f"https://127.0.0.1:{port}",
            "--request-timeout", "10s", "get", "--raw", "/version"]
    if tls_name:
        args[5:5] = ["--tls-server-name", tls_name]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "timeout"}
    if p.returncode != 0:
        return {"ok": False, "error": p.stderr.strip()[-400:]}
    return {"ok": True, "version": json.loads(p.stdout)}


def as_on_node(kc):
    """The kubeconfig's path, or for one naming node files a copy naming the bundle files placed there."""
    path = os.path.join(bundle, kc["path"])
    doc = yaml.safe_load(open(path))
    named = [(s, f) for s in (doc["clusters"][0]["cluster"], doc["users"][0]["user"])
             for f in ("certificate-authority", "client-certificate", "client-key") if f in s]
    if not named:
        return path, None
    nodes = [n for n in index["nodes"] if kc["node"] in (None, n["name"])
             and any(f["source"] == kc["path"] for f in n["files"])]
    if not nodes:
        return None, "names node files but no node gets it"
    placed = {f["path"]: f["source"] for f in nodes[0]["files"]}
    for section, field in named:
        if section[field] not in placed:
            return None, f"{field} {section[field]} is not placed on {nodes[0]['name']}"
        section[field] = os.path.join(bundle, placed[section[field]])
    fd, out = tempfile.mkstemp(suffix=".kubeconfig")
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(doc, fh)
    return out, None


results = []
for kc in index["kubeconfigs"]:
    host = urllib.parse.urlsplit(kc["server"]).hostname
    path, problem = as_on_node(kc)
    r = call(path, host) if path else {"ok": False, "error": problem}
    r.update({"name": kc["name"], "node": kc["node"], "tls_server_name": host})
    results.append(r)

other_index = json.load(open(os.path.join(other, "index.json")))
foreign = next(k for k in other_index["kubeconfigs"] if k["name"] == "admin")
negative = call(os.path.join(other, foreign["path"]), "127.0.0.1")
srv.shutdown()
print(json.dumps({"results": results, "foreign": negative}))
