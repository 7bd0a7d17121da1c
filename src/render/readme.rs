//! The bundle's README.md: its layout and the certificate table, for the reviewer.

use crate::catalog::certs::{Issuer, Subject, PROFILES};
use crate::error::Result;
use crate::fmt::templates;
use crate::model::Topology;

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
    templates::render(
        "bundle-README.md.j2",
        minijinja::context! {
            cluster => t.name.as_str(),
            version => t.version.to_string(),
            provider => t.provider.as_str(),
            certs => rows,
            not_before => crate::fmt::rfc3339(t.not_before)?,
            ca_days => t.ca_validity_days,
            cert_days => t.cert_validity_days,
            key_algorithm => t.key_algorithm.as_str(),
        },
    )
}
