//! Validation of `images` (sandbox and CoreDNS image references, image archives) and of the kubelet's
//! `failCgroupV1`.

use super::*;

/// What makes an image reference unusable, or `None`: it is written into containerd's config, a
/// manifest, install.sh and index.json, so only the characters of registry/name:tag@digest references.
fn image_problem(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 255
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._/:@".contains(&b))
        && s.rsplit('/').next().is_some_and(|last| last.contains(':') || last.contains('@'));
    (!ok).then(|| {
        format!(
            "{} is not an image reference like \"registry.example/pause:3.10.2\" (lower-case name, a tag or @sha256 digest; letters, digits and -._/:@)",
            quoted(s)
        )
    })
}

fn sha256_problem(s: &str) -> Option<&'static str> {
    (s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then_some("must be 64 lowercase hex digits (a sha256)")
}

fn plain_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.ends_with('/')
        && p.split('/').all(|part| part != ".." && part != ".")
        && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._/+".contains(&b))
}

pub(super) fn validate_images(
    raw: &RawImages,
    binaries: Option<&Binaries>,
    version: Option<Version>,
    c: &mut Collector,
) -> Option<Images> {
    let before = c.problems.len();
    let mut image = |field: &str, given: &Option<String>, default: Option<String>| -> String {
        match given {
            Some(s) => {
                if let Some(p) = image_problem(s) {
                    c.err(format!("images.{field}"), p);
                }
                s.clone()
            }
            None => default.unwrap_or_default(),
        }
    };
    let sandbox =
        image("sandbox", &raw.sandbox, binaries.map(|b| format!("registry.k8s.io/pause:{}", b.versions.pause)));
    let coredns = image(
        "coredns",
        &raw.coredns,
        version.and_then(versions::lookup).map(|m| format!("registry.k8s.io/coredns/coredns:{}", m.coredns)),
    );
    let mut archives = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, a) in raw.archives.iter().enumerate() {
        let at = format!("images.archives[{i}]");
        if let Some(s) = &a.sha256 {
            if let Some(p) = sha256_problem(s) {
                c.err(format!("{at}.sha256"), p);
            }
        }
        let archive = match (&a.path, &a.url) {
            (Some(p), None) => {
                if !plain_path(p) {
                    c.err(
                        format!("{at}.path"),
                        format!("{} must be an absolute path of letters, digits and -._/+", quoted(p)),
                    );
                }
                ImageArchive::Path { path: p.clone(), sha256: a.sha256.clone() }
            }
            (None, Some(u)) => {
                if let Some(p) = url_problem(u) {
                    c.err(format!("{at}.url"), p);
                } else if !plain_path(&format!("/{}", u.rsplit('/').next().unwrap_or_default()))
                    || u.rsplit('/').next().is_none_or(str::is_empty)
                {
                    c.err(format!("{at}.url"), format!("{} must end in the archive's file name", quoted(u)));
                }
                if a.sha256.is_none() {
                    c.err(format!("{at}.sha256"), "is required with url: a downloaded archive is checked against it");
                }
                ImageArchive::Url { url: u.clone(), sha256: a.sha256.clone().unwrap_or_default() }
            }
            _ => {
                c.err(&at, "give either path (a file on the node) or url (a download with sha256)");
                continue;
            }
        };
        if !seen.insert(archive.node_path()) {
            c.err(&at, format!("a second archive at {} on the node", quoted(&archive.node_path())));
        }
        archives.push(archive);
    }
    (c.problems.len() == before && binaries.is_some() && version.is_some()).then_some(Images {
        sandbox,
        coredns,
        archives,
    })
}

/// `cluster.failCgroupV1`: the KubeletConfiguration field exists in every supported minor (1.31+).
pub(super) fn check_cgroup_v1(raw: &RawCluster, version: Option<Version>, c: &mut Collector) {
    if raw.fail_cgroup_v1 == Some(false) && version.is_some_and(|v| v.minor >= 35) {
        c.warn(
            "cluster.failCgroupV1",
            "false lets Kubernetes 1.35+ kubelets run on cgroup v1 hosts, which upstream deprecated and will remove: use it for hosts that cannot boot with cgroup v2 only",
        );
    }
}
