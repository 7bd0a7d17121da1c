//! The rollout as steps to carry out in order, each with its files and its commands: etcd membership
//! first, then etcd members one at a time with a health check between, the apiservers one at a time
//! (taken out of the load balancer while they restart), controller-managers and schedulers, load
//! balancers, workers in batches (drained when their kubelet is upgraded), nodes whose files need no
//! restart, new nodes, removed nodes, and the cluster-wide steps.

use super::verdicts::render_time;
use super::{Change, FileChange, NodePlan, NodeState, Side, Stage, Step, BATCH};
use crate::catalog::node_files::{path_of, Source};
use crate::catalog::{certs, paths};
use std::collections::BTreeSet;

/// What a TLS-bootstrapped kubelet writes itself, beside the bundle's kubelet files: the certificate
/// it uses now, and every client and serving pair it has had (kubelet's certificate manager names).
const KUBELET_PKI_CURRENT: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";
const KUBELET_OWN: &str = "/var/lib/kubelet/pki/kubelet-client-*.pem /var/lib/kubelet/pki/kubelet-server-*.pem";

fn node_path(source: Source) -> &'static str {
    path_of(source).unwrap_or_default()
}

/// etcdctl on an etcd member, as its healthcheck client, against the member's local endpoint.
fn etcdctl(args: &str) -> String {
    format!(
        "etcdctl --endpoints=https://127.0.0.1:2379 --cacert={} --cert={} --key={} {args}",
        node_path(Source::Cert("etcd-ca")),
        node_path(Source::Cert("etcd-healthcheck-client")),
        node_path(Source::Key("etcd-healthcheck-client")),
    )
}

/// The member ID of etcd member `name` (from `member list` on a member).
fn member_id(name: &str) -> String {
    format!("$({} | awk -F', ' '$3 == \"{name}\" {{ print $1 }}')", etcdctl("member list"))
}

struct Ctx<'a> {
    o: &'a Side<'a>,
    n: &'a Side<'a>,
    kubectl: String,
    port: u16,
    /// Load balancer nodes of both bundles (they front the apiservers during the rollout).
    lbs: Vec<String>,
    steps: Vec<Step>,
    /// Nodes whose files were installed by an earlier step.
    prepared: BTreeSet<String>,
}

impl Ctx<'_> {
    fn admin(&self, args: &str) -> String {
        format!("{} {args}", self.kubectl)
    }

    /// A step on `p`'s node; its first step installs and removes its files.
    fn node_step(&mut self, stage: Stage, title: String, p: &NodePlan) -> Step {
        let mut s = Step::new(stage, title, Some(&p.name));
        if self.prepared.insert(p.name.clone()) {
            s.install = p.files.iter().filter(|f| f.change != Change::Removed).cloned().collect();
            s.remove = p.files.iter().filter(|f| f.change == Change::Removed).map(|f| f.path.clone()).collect();
            if p.daemon_reload {
                s.commands.push("systemctl daemon-reload".into());
            }
            for u in
                p.restart.iter().filter(|u| u.starts_with("systemd-") || *u == "hardway-routes" || *u == "containerd")
            {
                s.commands.push(format!("systemctl restart {u}.service"));
            }
        }
        s
    }

    /// Restarts `units` of `p` (or runs install.sh again, which restarts every unit of the node).
    fn restart(&mut self, s: &mut Step, p: &NodePlan, units: &[&str]) {
        if p.rerun_install {
            if !s.commands.iter().any(|c| c.ends_with("install.sh")) {
                s.commands.push(node_path(Source::Own(paths::INSTALL_SCRIPT)).to_string());
            }
        } else {
            for u in p.restart.iter().filter(|u| units.contains(&u.as_str())) {
                s.commands.push(format!("systemctl restart {u}.service"));
            }
        }
    }

    fn lb_steps(&mut self, node: &str, action: &str) {
        for lb in self.lbs.clone() {
            let mut s = Step::new(
                Stage::ApiServer,
                format!("{action} {node}'s apiserver in the load balancer {lb}"),
                Some(&lb),
            );
            let helper = node_path(Source::Shared(paths::LB_HELPER));
            s = s.command(format!("{helper} {action} {node}"));
            if action == "ready" {
                s = s.wait(format!("{helper} wait-up {node} 5"), 180);
            }
            self.steps.push(s);
        }
    }
}

fn preinstalled_note(c: &Ctx, p: &NodePlan) -> Option<String> {
    let e = c.n.index.node(&p.name)?;
    (p.rerun_install && e.binaries == "preinstalled" && c.o.index.kubernetes_version != c.n.index.kubernetes_version)
        .then(|| {
            format!(
                "{} has preinstalled binaries: put Kubernetes {}'s binaries in place on it before this step",
                p.name, c.n.index.kubernetes_version
            )
        })
}

pub(super) fn steps(o: &Side, n: &Side, nodes: &[NodePlan], other: &[FileChange]) -> Vec<Step> {
    let admin = n.index.kubeconfigs.iter().find(|k| k.name == "admin").map(|k| k.path.clone()).unwrap_or_default();
    let lbs: Vec<String> = n
        .index
        .api_server
        .load_balancers
        .iter()
        .filter(|l| o.index.api_server.load_balancers.contains(l))
        .cloned()
        .collect();
    let mut c = Ctx {
        o,
        n,
        kubectl: format!("kubectl --kubeconfig {admin}"),
        port: n.index.api_server.port,
        lbs,
        steps: Vec::new(),
        prepared: BTreeSet::new(),
    };
    prepare(&mut c, nodes, other);
    let changed: Vec<&NodePlan> = nodes.iter().filter(|p| p.state == NodeState::Changed).collect();
    let version_change = o.index.kubernetes_version != n.index.kubernetes_version;

    for p in changed.iter().filter(|p| p.roles.iter().any(|r| r == "etcd") && p.restarts_any(&["etcd"])) {
        let apiserver = p.rerun_install && p.roles.iter().any(|r| r == "controlplane");
        if apiserver {
            c.lb_steps(&p.name, "drain");
        }
        let mut s = c.node_step(Stage::Etcd, format!("etcd member {}", p.name), p);
        c.restart(&mut s, p, &["etcd"]);
        s.manual = preinstalled_note(&c, p);
        s = s.wait(etcdctl("endpoint health --cluster"), 300);
        c.steps.push(s);
        if apiserver {
            c.lb_steps(&p.name, "ready");
        }
    }
    for p in
        changed.iter().filter(|p| p.roles.iter().any(|r| r == "controlplane") && p.restarts_any(&["kube-apiserver"]))
    {
        if p.rerun_install && c.prepared.contains(&p.name) {
            continue; // install.sh restarted it in the etcd stage
        }
        c.lb_steps(&p.name, "drain");
        let mut s = c.node_step(Stage::ApiServer, format!("kube-apiserver on {}", p.name), p);
        c.restart(&mut s, p, &["kube-apiserver"]);
        s.manual = s.manual.clone().or_else(|| preinstalled_note(&c, p));
        let ready = format!(
            "curl -fsS --max-time 5 --cacert {} https://127.0.0.1:{}/readyz",
            node_path(Source::Cert("kubernetes-ca")),
            c.port
        );
        s = s.wait(ready, 300);
        c.steps.push(s);
        c.lb_steps(&p.name, "ready");
    }
    for p in changed.iter().filter(|p| p.restarts_any(&["kube-controller-manager", "kube-scheduler"])) {
        if p.rerun_install && c.prepared.contains(&p.name) {
            continue;
        }
        let mut s =
            c.node_step(Stage::ControlPlane, format!("kube-controller-manager and kube-scheduler on {}", p.name), p);
        c.restart(&mut s, p, &["kube-controller-manager", "kube-scheduler"]);
        c.steps.push(s);
    }
    for p in changed.iter().filter(|p| p.restarts_any(&["haproxy"]) || !p.reload.is_empty()) {
        if p.rerun_install && c.prepared.contains(&p.name) {
            continue;
        }
        let mut s = c.node_step(Stage::LoadBalancer, format!("load balancer {}", p.name), p);
        c.restart(&mut s, p, &["haproxy"]);
        for u in &p.reload {
            s.commands.push(format!("systemctl reload {u}.service"));
        }
        s = s.wait(format!("{} status | grep -q ' UP$'", node_path(Source::Shared(paths::LB_HELPER))), 120);
        c.steps.push(s);
    }
    workers(&mut c, &changed, version_change);
    let rest: Vec<&NodePlan> = changed.iter().copied().filter(|p| !c.prepared.contains(&p.name)).collect();
    for p in rest {
        let mut s = c.node_step(Stage::Files, format!("files of {} (nothing to restart)", p.name), p);
        if p.rerun_install {
            c.restart(&mut s, p, &[]);
        }
        c.steps.push(s);
    }
    new_nodes(&mut c, nodes);
    removed_nodes(&mut c, nodes);
    cluster(&mut c, other);
    c.steps
}

/// Before any node changes: manifests (RBAC, token Secrets new workers need), etcd membership, and in
/// the last CA rotation phase the check that bootstrapped kubelets hold certificates of the new CA.
fn prepare(c: &mut Ctx, nodes: &[NodePlan], other: &[FileChange]) {
    let manifests: Vec<&str> = other
        .iter()
        .filter(|f| f.path.starts_with("manifests/") && f.path.ends_with(".yaml") && f.change != Change::Removed)
        .map(|f| f.path.as_str())
        .collect();
    if !manifests.is_empty() {
        let mut s = Step::new(Stage::Prepare, format!("apply the changed manifests ({})", manifests.join(", ")), None);
        for m in &manifests {
            s.commands.push(c.admin(&format!("apply -f {m}")));
        }
        c.steps.push(s);
    }
    let (om, nm) = (&c.o.index.etcd.members, &c.n.index.etcd.members);
    let kept: Vec<&String> = om.iter().filter(|m| nm.contains(m)).collect();
    let ip = |s: &Side, m: &str| s.index.node(m).map(|x| x.internal_ip.clone()).unwrap_or_default();
    for m in om.iter().filter(|m| nm.contains(m) && ip(c.o, m) != ip(c.n, m)) {
        let Some(at) = kept.iter().find(|k| *k != &m) else { continue };
        let peer = crate::model::net::url(&ip(c.n, m), 2380);
        c.steps.push(
            Step::new(
                Stage::Prepare,
                format!("etcd member {m} moves to {}: update its peer URL before it restarts there", ip(c.n, m)),
                Some(at),
            )
            .command(etcdctl(&format!("member update {} --peer-urls={peer}", member_id(m))))
            .wait(etcdctl("member list"), 60),
        );
    }
    for m in om.iter().filter(|m| !nm.contains(m)) {
        let Some(at) = kept.first() else { continue };
        c.steps.push(
            Step::new(
                Stage::Prepare,
                format!("etcd member {m} leaves the cluster (before its node is retired)"),
                Some(at),
            )
            .command(etcdctl(&format!("member remove {}", member_id(m))))
            .wait(etcdctl("endpoint health --cluster"), 120),
        );
    }
    for m in nm.iter().filter(|m| !om.contains(m)) {
        let Some(at) = kept.first() else { continue };
        let peer = crate::model::net::url(&ip(c.n, m), 2380);
        c.steps.push(
            Step::new(
                Stage::Prepare,
                format!("etcd member {m} is added to the running cluster (it boots later, as a new node)"),
                Some(at),
            )
            .command(etcdctl(&format!("member add {m} --peer-urls={peer}"))),
        );
    }
    // Dropping a CA generation: bootstrapped kubelets must hold certificates of the signing one.
    let dropped = c.o.index.pki.trusted_cas.iter().any(|g| !c.n.index.pki.trusted_cas.contains(g));
    if dropped {
        if let Some(aki) = signing_ski(c.n) {
            for e in c.n.index.nodes.iter().filter(|e| e.bootstraps() && c.o.index.node(&e.name).is_some()) {
                c.steps.push(
                    Step::new(Stage::Prepare, format!("check: {}'s kubelet holds a client certificate of CA generation {} (re-issued in the previous phase)", e.name, c.n.index.pki.signing_ca), Some(&e.name))
                        .wait(aki_check(&aki), 10),
                );
            }
        }
    }
    let _ = nodes;
}

/// The key identifier of the NEW bundle's signing cluster CA, as openssl prints it (AA:BB:...).
fn signing_ski(n: &Side) -> Option<String> {
    let g = n.index.pki.signing_ca;
    let cert =
        n.index.certificates.iter().find(|c| c.name == "kubernetes-ca" && c.node.is_none() && c.generation == g)?;
    let der = ::pem::parse(n.text(&cert.cert)).ok()?.into_contents();
    let (_, x) = x509_parser::parse_x509_certificate(&der).ok()?;
    let ski = x.extensions().iter().find_map(|e| match e.parsed_extension() {
        x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
        _ => None,
    })?;
    Some(ski.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"))
}

fn aki_check(aki: &str) -> String {
    format!("openssl x509 -in {KUBELET_PKI_CURRENT} -noout -ext authorityKeyIdentifier | grep -q '{aki}'")
}

fn workers(c: &mut Ctx, changed: &[&NodePlan], version_change: bool) {
    let signing_changes = c.o.index.pki.signing_ca != c.n.index.pki.signing_ca;
    let endpoint_changes = c.o.index.api_server.url != c.n.index.api_server.url;
    let todo: Vec<&NodePlan> = changed
        .iter()
        .copied()
        .filter(|p| p.roles.iter().any(|r| r == "worker"))
        .filter(|p| {
            let boots = c.n.index.node(&p.name).is_some_and(|e| e.bootstraps());
            p.restarts_any(&["kubelet", "kube-proxy", "containerd"]) || (boots && (signing_changes || endpoint_changes))
        })
        .collect();
    let aki = signing_ski(c.n);
    for (i, batch) in todo.chunks(BATCH).enumerate() {
        for p in batch {
            let boots = c.n.index.node(&p.name).is_some_and(|e| e.bootstraps());
            let title = format!("worker {} (batch {} of {})", p.name, i + 1, todo.len().div_ceil(BATCH));
            let drain = version_change && p.rerun_install;
            if drain {
                c.steps.push(
                    Step::new(Stage::Workers, format!("drain {} before its kubelet is upgraded", p.name), None)
                        .command(c.admin(&format!(
                            "drain {} --ignore-daemonsets --delete-emptydir-data --timeout=300s",
                            p.name
                        ))),
                );
            }
            let mut s = c.node_step(Stage::Workers, title, p);
            let kubelet_conf = node_path(Source::Kubeconfig("kubelet"));
            if boots && endpoint_changes {
                // The kubeconfig the kubelet wrote itself names the endpoint it bootstrapped against.
                s.commands.push(format!(
                    "sed -i 's#server: {}#server: {}#' {kubelet_conf}",
                    c.o.index.api_server.url, c.n.index.api_server.url
                ));
            }
            if boots && signing_changes {
                // Re-issue under the new signing CA: the kubelet bootstraps again with its (fresh) token.
                s.commands.push(format!("rm -f {KUBELET_OWN} {kubelet_conf}"));
                s.commands.push("systemctl restart kubelet.service".into());
                c.steps.push(s);
                c.steps.push(approve_serving(c, Stage::Workers, &p.name, "new serving certificate"));
                let mut w = Step::new(
                    Stage::Workers,
                    format!("{} holds certificates of CA generation {}", p.name, c.n.index.pki.signing_ca),
                    Some(&p.name),
                );
                w.commands.push("systemctl restart kube-proxy.service".into());
                if let Some(aki) = &aki {
                    w = w.wait(aki_check(aki), 300);
                }
                c.steps.push(w);
                continue;
            }
            if boots && endpoint_changes {
                if !p.restart.iter().any(|u| u == "kubelet") {
                    s.commands.push("systemctl restart kubelet.service".into());
                }
                if !p.restart.iter().any(|u| u == "kube-proxy") {
                    s.commands.push("systemctl restart kube-proxy.service".into());
                }
            }
            c.restart(&mut s, p, &["kubelet", "kube-proxy"]);
            s.manual = preinstalled_note(c, p);
            c.steps.push(s);
            c.steps.push(
                Step::new(Stage::Workers, format!("{} is Ready", p.name), None)
                    .wait(c.admin(&format!("wait --for=condition=Ready node/{} --timeout=30s", p.name)), 300),
            );
            if drain {
                c.steps.push(
                    Step::new(Stage::Workers, format!("uncordon {}", p.name), None)
                        .command(c.admin(&format!("uncordon {}", p.name))),
                );
            }
        }
    }
}

/// Approves `node`'s kubelet-serving CSR with the bundle's script until the kubelet serves a certificate
/// the apiserver accepts (the path of logs, exec and port-forward).
fn approve_serving(c: &Ctx, stage: Stage, node: &str, what: &str) -> Step {
    Step::new(stage, format!("approve {node}'s {what}"), None).wait(
        format!(
            "sh {} >/dev/null 2>&1; {} get --raw /api/v1/nodes/{node}/proxy/healthz",
            paths::APPROVE_CSRS,
            c.kubectl,
        ),
        300,
    )
}

fn new_nodes(c: &mut Ctx, nodes: &[NodePlan]) {
    for p in nodes.iter().filter(|p| p.state == NodeState::Added) {
        let Some(e) = c.n.index.node(&p.name) else { continue };
        let mut s = Step::new(Stage::NewNodes, format!("new node {} ({})", p.name, e.roles.join(", ")), None)
            .manual(format!("boot {} with its user-data ({}, or {})", p.name, e.user_data, e.user_data_gzip));
        if e.has_role("worker") {
            s = s.wait(c.admin(&format!("wait --for=condition=Ready node/{} --timeout=30s", p.name)), 900);
        } else if e.has_role("etcd") {
            s.node = Some(p.name.clone());
            s = s.wait(etcdctl("endpoint health --cluster"), 900);
        } else if e.has_role("controlplane") {
            s.node = Some(p.name.clone());
            s = s.wait(
                format!(
                    "curl -fsS --max-time 5 --cacert {} https://127.0.0.1:{}/readyz",
                    node_path(Source::Cert("kubernetes-ca")),
                    c.port
                ),
                900,
            );
        }
        c.steps.push(s);
        if e.bootstraps() {
            c.steps.push(approve_serving(c, Stage::NewNodes, &p.name, "serving certificate"));
        }
    }
}

fn removed_nodes(c: &mut Ctx, nodes: &[NodePlan]) {
    for p in nodes.iter().filter(|p| p.state == NodeState::Removed) {
        let Some(e) = c.o.index.node(&p.name) else { continue };
        let mut s = Step::new(Stage::RemovedNodes, format!("removed node {} ({})", p.name, e.roles.join(", ")), None);
        if e.has_role("worker") {
            s.commands
                .push(c.admin(&format!("drain {} --ignore-daemonsets --delete-emptydir-data --timeout=300s", p.name)));
            s.commands.push(c.admin(&format!("delete node {}", p.name)));
            for t in c.o.index.bootstrap_tokens.iter().filter(|t| t.node.as_deref() == Some(p.name.as_str())) {
                s.commands.push(
                    c.admin(&format!("-n kube-system delete secret bootstrap-token-{} --ignore-not-found", t.id)),
                );
            }
        }
        c.steps.push(s.manual(format!("retire the machine {}", p.name)));
    }
}

fn cluster(c: &mut Ctx, other: &[FileChange]) {
    let (ok, nk) = (c.o.index.encryption.qualified_keys(), c.n.index.encryption.qualified_keys());
    if ok.first() != nk.first() && nk.first().is_some_and(|k| ok.contains(k)) {
        c.steps.push(
            Step::new(
                Stage::Cluster,
                format!("re-encrypt every Secret with {} (before that key's predecessor may be removed)", nk[0]),
                None,
            )
            .command(format!("{} | {}", c.admin("get secrets -A -o json"), c.admin("replace -f -"))),
        );
    }
    let ca_changed =
        c.o.index.pki.signing_ca != c.n.index.pki.signing_ca || c.o.index.pki.trusted_cas != c.n.index.pki.trusted_cas;
    let (osa, nsa) = (&c.o.index.pki.service_account_keys, &c.n.index.pki.service_account_keys);
    if c.o.index.pki.trusted_cas != c.n.index.pki.trusted_cas {
        // The controller-manager publishes its --root-ca-file (the trust bundle) to every namespace's
        // kube-root-ca.crt once its new leader runs: pods must not restart (below) before it did, or
        // they mount the old trust.
        let trust = certs::find("kubernetes-ca")
            .map(|p| paths::trust_bundle(p, &c.n.index.pki.trusted_cas))
            .unwrap_or_default();
        let k = &c.kubectl;
        c.steps.push(Step::new(Stage::Cluster, "every namespace's kube-root-ca.crt holds the new trust bundle", None).wait(
            format!(
                "for ns in $({k} get namespaces -o jsonpath='{{.items[*].metadata.name}}'); do {k} -n \"$ns\" get configmap kube-root-ca.crt -o 'jsonpath={{.data.ca\\.crt}}' | cmp -s - {trust} || exit 1; done"
            ),
            300,
        ));
    }
    if ca_changed || osa.signing != nsa.signing {
        // Every rollout finished before the next render may drop what the old pods still use.
        let list = format!(
            "$({} get deployments,daemonsets,statefulsets -A -o jsonpath='{{range .items[*]}}{{.metadata.namespace}}/{{.kind}}/{{.metadata.name}} {{end}}')",
            c.kubectl
        );
        c.steps.push(
            Step::new(Stage::Cluster, "restart the pods that mount service-account tokens and the cluster CA, so they hold tokens of the signing key and the new trust", None)
                .command(format!("for r in {list}; do {} -n \"${{r%%/*}}\" rollout restart \"${{r#*/}}\"; done", c.kubectl))
                .wait(
                    format!("for r in {list}; do {} -n \"${{r%%/*}}\" rollout status \"${{r#*/}}\" --timeout=60s || exit 1; done", c.kubectl),
                    900,
                ),
        );
    }
    if osa.signing != nsa.signing {
        // Legacy token Secrets keep a token of the old key: without it, the token controller fills in
        // one of the signing key, while the old key is still trusted.
        let k = &c.kubectl;
        c.steps.push(
            Step::new(Stage::Cluster, "re-issue legacy service-account token Secrets (type kubernetes.io/service-account-token) with the signing key", None)
                .command(format!(
                    "for s in $({k} get secrets -A --field-selector type=kubernetes.io/service-account-token -o jsonpath='{{range .items[*]}}{{.metadata.namespace}}/{{.metadata.name}} {{end}}'); do {k} -n \"${{s%%/*}}\" patch secret \"${{s#*/}}\" --type=json -p '[{{\"op\":\"remove\",\"path\":\"/data/token\"}}]'; done"
                )),
        );
    }
    if ca_changed {
        // hardway publishes no cluster-info; where an operator did (kubeadm-style joins), it gets the
        // new trust bundle.
        let ca = certs::find("kubernetes-ca")
            .map(|p| paths::trust_bundle(p, &c.n.index.pki.trusted_cas))
            .unwrap_or_default();
        let k = c.kubectl.clone();
        let cmd = format!(
            "if {k} -n kube-public get configmap cluster-info >/dev/null 2>&1; then t=$(mktemp) && kubectl config set-cluster {} --server={} --certificate-authority={ca} --embed-certs=true --kubeconfig=\"$t\" >/dev/null && {k} -n kube-public create configmap cluster-info --from-file=kubeconfig=\"$t\" --dry-run=client -o yaml | {k} apply -f - && rm -f \"$t\"; fi",
            c.n.index.cluster, c.n.index.api_server.url
        );
        c.steps.push(
            Step::new(
                Stage::Cluster,
                "kube-public/cluster-info, where published (kubeadm-style joins): the new trust bundle",
                None,
            )
            .command(cmd),
        );
    }
    let off_node: Vec<&str> = other
        .iter()
        .filter(|f| f.path.ends_with(".kubeconfig") && f.change != Change::Removed)
        .map(|f| f.path.as_str())
        .collect();
    if !off_node.is_empty() {
        c.steps.push(
            Step::new(Stage::Cluster, "hand out the changed kubeconfigs no node gets", None)
                .manual(off_node.join(", ")),
        );
    }
    let _ = render_time(c.n);
}
