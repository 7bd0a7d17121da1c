//! Certificates checked independently of the code that made them: parsed with x509-parser (chain
//! signatures, names, usages, SANs, key identifiers, validity) and verified with the openssl binary.

use crate::common::*;
use hardway::Bundle;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::*;

fn index(b: &Bundle) -> Value {
    serde_json::from_slice(&b.get("index.json").unwrap().bytes).unwrap()
}

fn der_of(b: &Bundle, path: &str) -> Vec<u8> {
    let pem = ::pem::parse(&b.get(path).unwrap_or_else(|| panic!("{path} missing")).bytes).unwrap();
    assert_eq!(pem.tag(), "CERTIFICATE");
    pem.contents().to_vec()
}

fn sans_of(c: &X509Certificate<'_>) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => v.push(format!("DNS:{d}")),
                GeneralName::IPAddress(b) => {
                    let ip: IpAddr = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).unwrap().into(),
                        16 => <[u8; 16]>::try_from(*b).unwrap().into(),
                        _ => panic!("bad IP SAN"),
                    };
                    v.push(format!("IP:{ip}"));
                }
                other => panic!("unexpected SAN {other:?}"),
            }
        }
    }
    v
}

fn key_ids(c: &X509Certificate<'_>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let (mut ski, mut aki) = (None, None);
    for e in c.extensions() {
        match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(a) => aki = a.key_identifier.as_ref().map(|k| k.0.to_vec()),
            _ => {}
        }
    }
    (ski, aki)
}

/// Every certificate of the bundle, checked against its index entry and its issuer.
fn check_bundle(b: &Bundle) -> usize {
    let idx = index(b);
    let certs = idx["certificates"].as_array().unwrap();
    let mut serials = BTreeSet::new();
    for entry in certs {
        let name = format!("{}/{}", entry["name"].as_str().unwrap(), entry["node"].as_str().unwrap_or("-"));
        let der = der_of(b, entry["cert"].as_str().unwrap());
        let (_, c) = X509Certificate::from_der(&der).unwrap();
        let issuer_entry = certs.iter().find(|e| e["name"] == entry["issuer"] && e["node"].is_null()).unwrap();
        let issuer_der = der_of(b, issuer_entry["cert"].as_str().unwrap());
        let (_, issuer) = X509Certificate::from_der(&issuer_der).unwrap();

        // Chain: signed by the named issuer, names and key identifiers line up.
        c.verify_signature(Some(issuer.public_key())).unwrap_or_else(|e| panic!("{name}: bad signature: {e:?}"));
        assert_eq!(c.issuer(), issuer.subject(), "{name}: issuer name");
        let (ski, aki) = key_ids(&c);
        let (issuer_ski, _) = key_ids(&issuer);
        assert!(ski.as_ref().is_some_and(|k| k.len() == 20), "{name}: SKI missing or empty");
        let is_ca = entry["issuer"] == entry["name"];
        if !is_ca {
            assert_eq!(aki, issuer_ski, "{name}: AKI does not match the issuer's SKI");
        }

        // Subject as the index says (RFC 4514 order).
        let subject = c.subject().to_string_with_registry(oid_registry()).unwrap();
        let mut parts: Vec<&str> = subject.split(", ").collect();
        parts.reverse();
        assert_eq!(parts.join(","), entry["subject"].as_str().unwrap(), "{name}: subject");

        // Serial: positive, 16 bytes, unique in the bundle.
        let serial = c.raw_serial();
        assert!(serial.len() == 16 && serial[0] & 0x80 == 0, "{name}: serial {serial:02x?}");
        assert!(serials.insert(serial.to_vec()), "{name}: duplicate serial");

        // Validity as indexed, and never beyond the issuer's.
        let nb = c.validity().not_before.to_datetime();
        let na = c.validity().not_after.to_datetime();
        let fmt = &::time::format_description::well_known::Rfc3339;
        assert_eq!(nb.format(fmt).unwrap(), entry["notBefore"].as_str().unwrap(), "{name}");
        assert_eq!(na.format(fmt).unwrap(), entry["notAfter"].as_str().unwrap(), "{name}");
        assert!(na <= issuer.validity().not_after.to_datetime(), "{name} outlives its CA");
        assert!(nb < na);

        // Basic constraints and usages: minimal for the role.
        let bc = c.basic_constraints().unwrap().unwrap_or_else(|| panic!("{name}: no basicConstraints"));
        assert_eq!(bc.value.ca, is_ca, "{name}: CA flag");
        let ku = c.key_usage().unwrap().unwrap_or_else(|| panic!("{name}: no keyUsage")).value;
        let usages: Vec<&str> = entry["usages"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
        if is_ca {
            assert_eq!(bc.value.path_len_constraint, Some(0), "{name}: pathlen");
            assert!(ku.key_cert_sign() && ku.crl_sign() && ku.digital_signature(), "{name}");
            assert!(c.extended_key_usage().unwrap().is_none(), "{name}: CA with EKU");
        } else {
            assert!(!ku.key_cert_sign() && !ku.crl_sign(), "{name}: leaf can sign certificates");
            assert_eq!(ku.key_encipherment(), usages.contains(&"keyEncipherment"), "{name}");
            let eku = c.extended_key_usage().unwrap().unwrap_or_else(|| panic!("{name}: no EKU")).value;
            assert_eq!(eku.server_auth, usages.contains(&"serverAuth"), "{name}: serverAuth");
            assert_eq!(eku.client_auth, usages.contains(&"clientAuth"), "{name}: clientAuth");
            assert!(eku.server_auth || eku.client_auth, "{name}: no usage at all");
            assert!(!eku.any && eku.other.is_empty(), "{name}: extra EKUs");
        }

        // SANs exactly as indexed.
        let want: Vec<String> =
            entry["sans"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
        assert_eq!(sans_of(&c), want, "{name}: SANs");
    }
    certs.len()
}

/// Expected identities, written out here rather than read from the code's tables.
#[test]
fn demo_certificates_parse_and_chain() {
    let b = render_text(&demo_yaml(), 1);
    assert_eq!(check_bundle(&b), 3 + 10 + 2 * 3 + 2 * 3);
    let idx = index(&b);
    let find = |name: &str, node: Option<&str>| -> Value {
        idx["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name && e["node"].as_str() == node)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(find("kube-proxy", None)["subject"], "CN=system:kube-proxy,O=system:node-proxier");
    assert_eq!(find("kube-scheduler", None)["subject"], "CN=system:kube-scheduler");
    assert_eq!(find("admin", None)["subject"], "CN=kubernetes-admin,O=kubeadm:cluster-admins");
    assert_eq!(find("super-admin", None)["subject"], "CN=kubernetes-super-admin,O=system:masters");
    assert_eq!(find("kubelet-client", Some("worker-1"))["subject"], "CN=system:node:worker-1,O=system:nodes");
    assert_eq!(find("apiserver-etcd-client", None)["issuer"], "etcd-ca");
    assert_eq!(find("front-proxy-client", None)["issuer"], "front-proxy-ca");
    let api: Vec<String> =
        find("apiserver", None)["sans"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().into()).collect();
    for want in [
        "IP:10.32.0.1",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
        "IP:203.0.113.10",
        "DNS:api.hardway-demo.example",
        "IP:10.240.0.10",
        "IP:10.240.0.11",
        "IP:10.240.0.12",
        "IP:127.0.0.1",
        "DNS:localhost",
    ] {
        assert!(api.contains(&want.to_string()), "apiserver lacks {want}: {api:?}");
    }
    assert!(!api.iter().any(|s| s.contains("10.240.0.2")), "worker IPs do not belong in the apiserver cert");
    let peer = find("etcd-peer", Some("controller-1"));
    let etcd: Vec<&str> = peer["sans"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(etcd, ["DNS:controller-1", "IP:10.240.0.11", "DNS:localhost", "IP:127.0.0.1", "IP:::1"]);
    let serving = find("kubelet-server", Some("worker-0"));
    let kubelet: Vec<&str> = serving["sans"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(kubelet, ["DNS:worker-0", "IP:10.240.0.20", "IP:203.0.113.20"]);
}

#[test]
fn rsa_and_single_node_bundles_check_out() {
    for case in ["external-etcd", "single-node"] {
        let dir = repo().join("golden").join(case);
        let b = render_files(&dir.join("topology.yaml"), &dir.join("seed")).unwrap();
        assert!(check_bundle(&b) > 10);
    }
}

fn changed(before: &Bundle, after: &Bundle) -> Vec<String> {
    before.iter().filter(|(p, e)| after.get(p) != Some(*e)).map(|(p, _)| p.clone()).collect()
}

#[test]
fn a_worker_added_changes_only_the_files_that_list_nodes() {
    let before = render_text(&demo_yaml(), 5);
    let worker = demo_yaml() + "  - {name: worker-3, internalIP: 10.240.0.23, roles: [worker]}\n";
    let after = render_text(&worker, 5);
    // The files that list nodes: the index, the checksums, the pod routes table, and the user-data that
    // carries that table to every controlplane and worker node.
    for path in changed(&before, &after) {
        let lists_nodes = ["SHA256SUMS", "index.json", "config/network/pod-routes"].contains(&path.as_str())
            || path.starts_with("user-data/");
        assert!(lists_nodes, "{path} changed when a worker was added");
    }
    assert!(after.get("nodes/worker-3/pki/kubelet-client.crt").is_some());
    assert!(after.get("user-data/worker-3.yaml").is_some());

    // A new etcd member changes the units and user-data that list the members, never a certificate or key.
    let member = demo_yaml() + "  - {name: controller-3, internalIP: 10.240.0.13, roles: [etcd]}\n";
    let after = render_text(&member, 5);
    let changed = changed(&before, &after);
    assert!(changed.iter().all(|p| !p.ends_with(".crt") && !p.ends_with(".key")), "{changed:?}");
    assert!(changed.contains(&"nodes/controller-0/systemd/etcd.service".to_string()));
    assert!(changed.contains(&"nodes/controller-2/systemd/kube-apiserver.service".to_string()));
    assert!(!changed.iter().any(|p| p.contains("worker-")), "workers do not list etcd members: {changed:?}");

    // And a different seed changes every key.
    let other = render_text(&demo_yaml(), 6);
    assert_ne!(other.get("pki/kubernetes-ca.key"), before.get("pki/kubernetes-ca.key"));
}

/// `openssl verify -attime AT ...`: a fixed moment inside the certificates' validity, so the result
/// does not depend on today's date.
fn openssl_ok(at: i64, args: &[&str]) -> (bool, String) {
    let at = at.to_string();
    let o = run(Command::new("openssl").arg("verify").arg("-attime").arg(&at).args(args));
    (o.status.success() && text(&o.stdout).contains(": OK"), format!("{}{}", text(&o.stdout), text(&o.stderr)))
}

/// The real openssl: every certificate verifies against its CA for its purpose and SANs, keys match.
#[test]
fn openssl_verifies_every_certificate_purpose_and_san() {
    if tool("openssl").is_none() {
        return;
    }
    let t = TempDir::new("openssl");
    for (case, seed) in [("demo", 11u8), ("rsa", 12)] {
        let b = if case == "demo" {
            render_text(&demo_yaml(), seed)
        } else {
            let y = std::fs::read_to_string(repo().join("golden/external-etcd/topology.yaml")).unwrap();
            render_text(&y, seed)
        };
        let dir = t.join(case);
        write_bundle(&b, &dir);
        let idx = index(&b);
        let certs = idx["certificates"].as_array().unwrap();
        let nb = ::time::OffsetDateTime::parse(
            certs[0]["notBefore"].as_str().unwrap(),
            &::time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let at = nb.unix_timestamp() + 3600;
        for e in certs {
            let cert = dir.join(e["cert"].as_str().unwrap());
            let key = dir.join(e["key"].as_str().unwrap());
            let ca_entry = certs.iter().find(|c| c["name"] == e["issuer"]).unwrap();
            let ca = dir.join(ca_entry["cert"].as_str().unwrap());
            let (cert, ca) = (cert.to_str().unwrap(), ca.to_str().unwrap());
            let name = e["cert"].as_str().unwrap();
            let usages: Vec<&str> = e["usages"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();

            // Key matches certificate.
            let a = run(Command::new("openssl").args(["x509", "-in", cert, "-noout", "-pubkey"]));
            let k = run(Command::new("openssl").args(["pkey", "-in", key.to_str().unwrap(), "-pubout"]));
            assert!(a.status.success() && k.status.success());
            assert_eq!(a.stdout, k.stdout, "{name}: key does not match certificate");

            let (ok, out) = openssl_ok(at, &["-x509_strict", "-CAfile", ca, cert]);
            assert!(ok, "{name}: {out}");
            for (usage, purpose) in [("serverAuth", "sslserver"), ("clientAuth", "sslclient")] {
                if e["issuer"] == e["name"] {
                    continue;
                }
                let (ok, out) = openssl_ok(at, &["-x509_strict", "-CAfile", ca, "-purpose", purpose, cert]);
                assert_eq!(ok, usages.contains(&usage), "{name} -purpose {purpose}: {out}");
            }
            if usages.contains(&"serverAuth") {
                for san in e["sans"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()) {
                    let (flag, v) = match san.split_once(':') {
                        Some(("IP", ip)) => ("-verify_ip", ip),
                        Some(("DNS", d)) => ("-verify_hostname", d),
                        _ => panic!("{san}"),
                    };
                    let (ok, out) = openssl_ok(at, &["-CAfile", ca, "-purpose", "sslserver", flag, v, cert]);
                    assert!(ok, "{name} {flag} {v}: {out}");
                }
                // And a name that is not there is refused (the check above can fail).
                let (ok, _) = openssl_ok(
                    at,
                    &["-CAfile", ca, "-purpose", "sslserver", "-verify_hostname", "kubernetes.svc.cluster.local", cert],
                );
                assert!(!ok, "{name}: accepted a name not in its SANs");
            }
        }
        // A certificate does not verify against another CA.
        let (ok, _) = openssl_ok(
            at,
            &[
                "-CAfile",
                dir.join("pki/etcd-ca.crt").to_str().unwrap(),
                dir.join("pki/apiserver.crt").to_str().unwrap(),
            ],
        );
        assert!(!ok, "apiserver cert must not verify against the etcd CA");
    }
}
