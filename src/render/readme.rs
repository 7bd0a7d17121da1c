//! The bundle's README.md: its layout and the certificate table, for the reviewer.

use crate::catalog::certs::{Issuer, Subject, PROFILES};
use crate::error::Result;
use crate::fmt::templates;
use crate::model::Topology;

/// The bundle's README.md.
pub fn render(t: &Topology) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Row {
        name: &'static str,
        issuer: &'static str,
        subject: String,
        usages: String,
        purpose: &'static str,
    }
    let mut rows: Vec<Row> = Vec::new();
    for p in PROFILES {
        let subject = match p.subject {
            Subject::Fixed(s) => format!("CN={s}"),
            Subject::NodeName => "CN=<node>".into(),
            Subject::NodePrefixed(pre) => format!("CN={pre}<node>"),
        };
        let subject = match p.org {
            Some(o) => format!("{subject},O={o}"),
            None => subject,
        };
        let usages = if p.is_ca() {
            "CA (pathlen 0)".into()
        } else {
            p.usages.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ")
        };
        let issuer = match p.issuer {
            Issuer::SelfSigned => "self-signed",
            Issuer::Ca(c) => c,
        };
        rows.push(Row { name: p.name, issuer, subject: subject.replace('|', "\\|"), usages, purpose: p.purpose });
    }
    #[derive(serde::Serialize)]
    struct Gen {
        generation: u32,
        not_before: String,
        not_after: String,
        signing: bool,
    }
    let mut generations = Vec::new();
    for g in &t.trusted_cas {
        if let Some((nb, na)) = t.ca_validity(*g) {
            generations.push(Gen {
                generation: *g,
                not_before: crate::fmt::rfc3339(nb)?,
                not_after: crate::fmt::rfc3339(na)?,
                signing: *g == t.signing_ca,
            });
        }
    }
    templates::render(
        "bundle-README.md.j2",
        minijinja::context! {
            cluster => t.name.as_str(),
            version => t.version.to_string(),
            provider => t.provider.as_str(),
            certs => rows,
            generations => generations,
            leaf_not_before => crate::fmt::rfc3339(t.leaf_validity().0)?,
            leaf_not_after => crate::fmt::rfc3339(t.leaf_validity().1)?,
            leaf_key_generation => t.leaf_key_generation,
            sa_signing => t.sa_signing,
            sa_trusted => t.sa_trusted,
            cert_days => t.cert_validity_days,
            key_algorithm => t.key_algorithm.as_str(),
            status => crate::catalog::paths::NODE_STATUS,
            search => super::install::SEARCH_PATH.join(" "),
        },
    )
}
