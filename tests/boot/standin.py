#!/usr/bin/python3
"""Stand-ins for the Kubernetes binaries in the boot test (tests/boot/boot.py), installed under their
names. What each one proves, and nothing more:

- every file its unit's flags (and its config file) name exists on the node;
- kube-apiserver: serves TLS on --bind-address:--secure-port with --tls-cert-file/--tls-private-key-file,
  verifies client certificates against --client-ca-file (/readyz, /livez, /healthz, /version are open,
  as RBAC leaves them to anyone; every other path needs a client certificate), and is ready only once
  it reached an etcd server of --etcd-servers with --etcd-cafile/--etcd-certfile/--etcd-keyfile;
- kube-controller-manager, kube-scheduler, kubelet, kube-proxy: GET /readyz from the server of their
  kubeconfig, verifying the server against the kubeconfig's CA and presenting its client certificate
  (the node's files the kubeconfig names, or its embedded data; through the load balancer where the
  kubeconfig says so); then /run/hardway-standin/NAME.ok;
- containerd: tells systemd it is ready (Type=notify) once its config exists.
They run no container, schedule nothing and reconcile nothing.
"""
import base64, http.server, json, os, socket, ssl, sys, tempfile, threading, time, urllib.request

NAME = os.path.basename(sys.argv[0])
MARKERS = "/run/hardway-standin"


def log(msg):
    print(f"{NAME} stand-in: {msg}", flush=True)


def flags(argv):
    out = {}
    for a in argv:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            out[k] = v
    return out


FILE_FLAGS = ("file", "cafile", "certfile", "keyfile", "kubeconfig", "config", "encryption-provider-config")


def check_files(f):
    missing = []
    for k, v in f.items():
        if k.endswith(FILE_FLAGS) and v.startswith("/") and not os.path.exists(v):
            missing.append(f"--{k}={v}")
    if missing:
        log("missing files: " + " ".join(missing))
        sys.exit(1)


def yaml_load(path):
    import yaml
    with open(path) as fh:
        return yaml.safe_load(fh)


def sd_notify(msg):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(msg.encode(), addr)
    s.close()


def mark(ok_text):
    os.makedirs(MARKERS, exist_ok=True)
    with open(os.path.join(MARKERS, NAME + ".ok"), "w") as fh:
        fh.write(ok_text + "\n")


def forever():
    while True:
        time.sleep(3600)


def client_via_kubeconfig(path):
    """Node kubeconfigs name the node's CA, certificate and key files; off-node ones embed them."""
    kc = yaml_load(path)
    cluster = kc["clusters"][0]["cluster"]
    user = kc["users"][0]["user"]
    d = tempfile.mkdtemp()

    def pem(section, field):
        if field + "-data" in section:
            out = os.path.join(d, field)
            with open(out, "wb") as fh:
                fh.write(base64.b64decode(section[field + "-data"]))
            return out
        if not os.path.exists(section[field]):
            log(f"{path}: {field} {section[field]} is missing")
            sys.exit(1)
        return section[field]

    ctx = ssl.create_default_context(cafile=pem(cluster, "certificate-authority"))
    headers = {}
    if "client-certificate-data" in user or "client-certificate" in user:
        ctx.load_cert_chain(pem(user, "client-certificate"), pem(user, "client-key"))
    if "token" in user:
        headers["Authorization"] = "Bearer " + user["token"]
    server = cluster["server"]
    while True:
        try:
            req = urllib.request.Request(server + "/readyz", headers=headers)
            with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
                if r.status == 200:
                    log(f"{server}/readyz: 200 (server verified against the kubeconfig's CA)")
                    mark(server)
                    forever()
        except Exception as e:  # not up yet: retry, as the real components do
            log(f"{server}/readyz: {e}")
        time.sleep(1)


def apiserver(f):
    check_files(f)
    etcd_ok = threading.Event()

    def reach_etcd():
        ctx = ssl.create_default_context(cafile=f["etcd-cafile"])
        ctx.load_cert_chain(f["etcd-certfile"], f["etcd-keyfile"])
        while not etcd_ok.is_set():
            for url in f["etcd-servers"].split(","):
                try:
                    with urllib.request.urlopen(url + "/health", context=ctx, timeout=5) as r:
                        body = json.loads(r.read())
                        if str(body.get("health")) == "true":
                            log(f"etcd {url}: healthy (client certificate accepted)")
                            etcd_ok.set()
                            break
                except Exception as e:
                    log(f"etcd {url}: {e}")
            time.sleep(1)

    threading.Thread(target=reach_etcd, daemon=True).start()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            cert = self.connection.getpeercert()
            path = self.path.split("?")[0]
            if path in ("/readyz", "/livez", "/healthz"):
                code, body = (200, b"ok") if etcd_ok.is_set() else (503, b"etcd not reached")
            elif path == "/version":
                code, body = 200, json.dumps({"gitVersion": "standin"}).encode()
            elif cert:
                code, body = 200, json.dumps({"subject": cert.get("subject")}).encode()
            else:
                code, body = 403, b"client certificate required"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f["tls-cert-file"], f["tls-private-key-file"])
    ctx.load_verify_locations(f["client-ca-file"])
    ctx.verify_mode = ssl.CERT_OPTIONAL
    srv = http.server.ThreadingHTTPServer((f.get("bind-address", "0.0.0.0"), int(f["secure-port"])), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    log(f"serving TLS on {f.get('bind-address')}:{f['secure-port']}")
    srv.serve_forever()


def main():
    f = flags(sys.argv[1:])
    if NAME == "kube-apiserver":
        apiserver(f)
    elif NAME == "kube-controller-manager":
        check_files(f)
        client_via_kubeconfig(f["kubeconfig"])
    elif NAME in ("kube-scheduler", "kube-proxy"):
        # Both name their kubeconfig in their config file's clientConnection.
        check_files(f)
        cfg = yaml_load(f["config"])
        kc = cfg["clientConnection"]["kubeconfig"]
        check_files({"kubeconfig": kc})
        client_via_kubeconfig(kc)
    elif NAME == "kubelet":
        check_files(f)
        cfg = yaml_load(f["config"])
        named = {"tls-cert-file": cfg.get("tlsCertFile"), "tls-private-key-file": cfg.get("tlsPrivateKeyFile"),
                 "client-ca-file": cfg.get("authentication", {}).get("x509", {}).get("clientCAFile")}
        check_files({k: v for k, v in named.items() if v})
        kc = f["kubeconfig"] if os.path.exists(f["kubeconfig"]) else f.get("bootstrap-kubeconfig")
        client_via_kubeconfig(kc)
    elif NAME == "containerd":
        check_files({"config": "/etc/containerd/config.toml"})
        sd_notify("READY=1")
        mark("ready")
        forever()
    else:  # runc, CNI plugins: present, never run here
        sys.exit(0)


if __name__ == "__main__":
    main()
