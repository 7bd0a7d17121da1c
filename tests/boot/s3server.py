#!/usr/bin/env python3
"""An S3-compatible server for the boot test's `secrets.source.s3` case: moto's S3 over HTTPS (its own
test CA), on an address of the round's private network. Run inside that network namespace.

    s3server.py serve IP PORT CERT KEY READY BUCKET/KEY=FILE...   serve; put each FILE at BUCKET/KEY first
    s3server.py list IP PORT CA BUCKET                             print the keys left in BUCKET

`serve` writes READY once the objects are in place and serves until it is killed (by PID)."""

import sys
import threading

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

CREDENTIALS = {"aws_access_key_id": "hardway-test", "aws_secret_access_key": "hardway-test",
               "region_name": "us-east-1"}


def client(ip, port, ca):
    return boto3.client("s3", endpoint_url=f"https://{ip}:{port}", verify=ca, **CREDENTIALS)


def serve(ip, port, cert, key, ready, objects):
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(ip, int(port), app, threaded=True, ssl_context=(cert, key))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    s3 = client(ip, port, cert)
    for spec in objects:
        where, path = spec.split("=", 1)
        bucket, name = where.split("/", 1)
        if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=name, Body=open(path, "rb").read())
    open(ready, "w").write("ready\n")
    threading.Event().wait()


def main():
    if sys.argv[1] == "serve":
        serve(*sys.argv[2:7], sys.argv[7:])
    elif sys.argv[1] == "list":
        ip, port, ca, bucket = sys.argv[2:6]
        for o in client(ip, port, ca).list_objects_v2(Bucket=bucket).get("Contents", []):
            print(o["Key"])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
