"""Shared by the scripts that run real etcd members (etcd_cluster.py, rotation_check.py): the command
line of a member with mutual TLS, starting members with their logs in WORKDIR, etcdctl with a client
certificate, waiting for a healthy quorum, and stopping every member (SIGTERM, then SIGKILL)."""
import os
import signal
import subprocess
import time


def member_argv(name, ip, data_dir, server, peer, ca, cluster, token):
    """etcd for member NAME on IP: SERVER and PEER are (cert, key) pairs, CA is trusted for both."""
    return ["etcd", "--name", name, "--data-dir", data_dir,
            "--cert-file", server[0], "--key-file", server[1],
            "--peer-cert-file", peer[0], "--peer-key-file", peer[1],
            "--trusted-ca-file", ca, "--peer-trusted-ca-file", ca,
            "--client-cert-auth", "--peer-client-cert-auth",
            "--initial-advertise-peer-urls", f"https://{ip}:2380", "--listen-peer-urls", f"https://{ip}:2380",
            "--listen-client-urls", f"https://{ip}:2379", "--advertise-client-urls", f"https://{ip}:2379",
            "--initial-cluster-token", token, "--initial-cluster", cluster, "--initial-cluster-state", "new"]


def initial_cluster(members):
    return ",".join(f"{m['name']}=https://{m['internalIP']}:2380" for m in members)


def endpoints(members):
    return ",".join(f"https://{m['internalIP']}:2379" for m in members)


def start(argv, work, name, procs, logs):
    """Starts one member, its data directory and log under WORK; appends to PROCS and LOGS."""
    os.makedirs(os.path.join(work, name), mode=0o700, exist_ok=True)
    log = open(os.path.join(work, name + ".log"), "w")
    logs.append(log.name)
    procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))


def ctl(eps, ca, cert, key, *args, timeout=20):
    """etcdctl against EPS with a client certificate: (exit code, stdout+stderr)."""
    r = subprocess.run(["etcdctl", "--endpoints", eps, "--cacert", ca, "--cert", cert, "--key", key,
                        "--dial-timeout=2s", "--command-timeout=3s", *args],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).strip()


def wait_healthy(health, members, seconds):
    """Calls HEALTH() (an `endpoint health`) until every member is healthy or SECONDS pass:
    (healthy, last output)."""
    deadline = time.time() + seconds
    out = ""
    while time.time() < deadline:
        rc, out = health()
        if rc == 0 and out.count("is healthy") == members:
            return True, out
        time.sleep(0.5)
    return False, out


def stop(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
