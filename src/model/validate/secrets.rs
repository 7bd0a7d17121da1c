//! Validation of `secrets`: inline delivery, or a per-node archive and where each node obtains it (a
//! file the operator places, an https download checked against a CA of the topology, S3).

use super::*;

/// Reads a file the topology names (relative to the topology file): the model reads no files itself.
pub(crate) type Reader<'a> = &'a dyn Fn(&str) -> std::result::Result<Vec<u8>, String>;

/// A `{cluster}`/`{node}` template problem: only those placeholders, and `{node}` present (each node
/// has its own archive).
fn template_problem(u: &str) -> Option<String> {
    let mut rest = u;
    while let Some(i) = rest.find('{') {
        let Some(j) = rest[i..].find('}') else { return Some(format!("{}: an unclosed {{", quoted(u))) };
        let name = &rest[i + 1..i + j];
        if name != "cluster" && name != "node" {
            return Some(format!("{}: {{{name}}} is not a placeholder (use {{cluster}} and {{node}})", quoted(u)));
        }
        rest = &rest[i + j + 1..];
    }
    (!u.contains("{node}"))
        .then(|| format!("{} must contain {{node}}: every node has an archive of its own", quoted(u)))
}

fn plain_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.ends_with('/')
        && p.split('/').all(|part| part != ".." && part != ".")
        && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._/+".contains(&b))
}

pub(super) fn validate_secrets(raw: &RawSecrets, read: Reader, c: &mut Collector) -> Option<SecretDelivery> {
    let before = c.problems.len();
    let delivery = match (raw.delivery, &raw.source) {
        (SecretsDelivery::Inline, None) => SecretDelivery::Inline,
        (SecretsDelivery::Inline, Some(_)) => {
            c.err("secrets.source", "only with secrets.delivery: archive (inline secrets need no source)");
            SecretDelivery::Inline
        }
        (SecretsDelivery::Archive, None) => {
            c.err("secrets.source", "archive delivery needs a source: file, https or s3");
            SecretDelivery::Inline
        }
        (SecretsDelivery::Archive, Some(s)) => {
            let given = [s.file.is_some(), s.https.is_some(), s.s3.is_some()].iter().filter(|x| **x).count();
            if given != 1 {
                c.err("secrets.source", "give exactly one of file, https, s3");
            }
            if let Some(f) = &s.file {
                let path = f.path.clone().unwrap_or_else(|| DEFAULT_SECRETS_FILE.to_string());
                if !plain_path(&path) {
                    c.err(
                        "secrets.source.file.path",
                        format!("{} must be an absolute path of letters, digits and -._/+", quoted(&path)),
                    );
                }
                let wait_seconds = f.wait_seconds.unwrap_or(DEFAULT_SECRETS_WAIT);
                if wait_seconds == 0 || wait_seconds > 86_400 {
                    c.err("secrets.source.file.waitSeconds", format!("{wait_seconds} is not 1-86400"));
                }
                SecretDelivery::Archive(SecretsSource::File { path, wait_seconds })
            } else if let Some(h) = &s.https {
                let filled = h.url.replace("{cluster}", "c").replace("{node}", "n");
                if let Some(p) = template_problem(&h.url).or_else(|| url_problem(&filled)) {
                    c.err("secrets.source.https.url", p);
                }
                let ca_pem = match read(&h.ca_file) {
                    Ok(b) => match String::from_utf8(b) {
                        Ok(s) if s.contains("-----BEGIN CERTIFICATE-----") => s,
                        _ => {
                            c.err(
                                "secrets.source.https.caFile",
                                format!("{} holds no PEM certificate", quoted(&h.ca_file)),
                            );
                            String::new()
                        }
                    },
                    Err(e) => {
                        c.err("secrets.source.https.caFile", format!("{}: {e}", quoted(&h.ca_file)));
                        String::new()
                    }
                };
                SecretDelivery::Archive(SecretsSource::Https { url: h.url.clone(), ca_pem })
            } else if let Some(s3) = &s.s3 {
                let ok_bucket = s3.url.strip_prefix("s3://").is_some_and(|r| {
                    let bucket = r.split('/').next().unwrap_or_default();
                    !bucket.is_empty()
                        && r.len() > bucket.len() + 1
                        && r.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._/{}".contains(&b))
                });
                if !ok_bucket {
                    c.err(
                        "secrets.source.s3.url",
                        format!("{} is not an s3://bucket/key URL (letters, digits, -._/)", quoted(&s3.url)),
                    );
                } else if let Some(p) = template_problem(&s3.url) {
                    c.err("secrets.source.s3.url", p);
                }
                if let Some(e) = &s3.endpoint_url {
                    if let Some(p) = url_problem(e) {
                        c.err("secrets.source.s3.endpointURL", p);
                    }
                }
                SecretDelivery::Archive(SecretsSource::S3 {
                    url: s3.url.clone(),
                    endpoint_url: s3.endpoint_url.clone(),
                    delete_after_fetch: s3.delete_after_fetch,
                })
            } else {
                SecretDelivery::Inline
            }
        }
    };
    if raw.archive_contents == ArchiveContents::All && raw.delivery != SecretsDelivery::Archive {
        c.err("secrets.archiveContents", "all is only for secrets.delivery: archive");
    }
    if delivery == SecretDelivery::Inline {
        c.warn(
            "secrets.delivery",
            "inline puts every node's private keys into its user-data, on controlplane nodes the cluster CA key, the service-account signing key and the encryption key: whoever can read a controller's user-data (instance metadata, the cloud API) holds the whole cluster; secrets.delivery: archive keeps them out",
        );
    }
    (c.problems.len() == before).then_some(delivery)
}
