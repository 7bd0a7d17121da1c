//! Templates compiled into the binary, rendered with strict undefined handling and no auto-escaping;
//! values reach their text through the escaping filters of `fmt::escape`.

use super::escape;
use crate::error::{Error, Result};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use std::sync::OnceLock;

const TEMPLATES: &[(&str, &str)] = &[
    ("kubeconfig.yaml.j2", include_str!("../../templates/kubeconfig.yaml.j2")),
    ("encryption-config.yaml.j2", include_str!("../../templates/encryption-config.yaml.j2")),
    ("admin-rbac.yaml.j2", include_str!("../../templates/admin-rbac.yaml.j2")),
    ("bundle-README.md.j2", include_str!("../../templates/bundle-README.md.j2")),
    ("unit.service.j2", include_str!("../../templates/unit.service.j2")),
    ("kubelet-config.yaml.j2", include_str!("../../templates/kubelet-config.yaml.j2")),
    ("kube-proxy-config.yaml.j2", include_str!("../../templates/kube-proxy-config.yaml.j2")),
    ("kube-scheduler.yaml.j2", include_str!("../../templates/kube-scheduler.yaml.j2")),
    ("audit-policy.yaml.j2", include_str!("../../templates/audit-policy.yaml.j2")),
    ("containerd-config.toml.j2", include_str!("../../templates/containerd-config.toml.j2")),
    ("crictl.yaml.j2", include_str!("../../templates/crictl.yaml.j2")),
    ("modules-load.conf", include_str!("../../templates/modules-load.conf")),
    ("sysctl.conf", include_str!("../../templates/sysctl.conf")),
    ("install.sh.j2", include_str!("../../templates/install.sh.j2")),
    ("user-data-head.yaml.j2", include_str!("../../templates/user-data-head.yaml.j2")),
    ("kubeconfig-token.yaml.j2", include_str!("../../templates/kubeconfig-token.yaml.j2")),
    ("apiserver-to-kubelet.yaml.j2", include_str!("../../templates/apiserver-to-kubelet.yaml.j2")),
    ("coredns.yaml.j2", include_str!("../../templates/coredns.yaml.j2")),
    ("bootstrap-rbac.yaml.j2", include_str!("../../templates/bootstrap-rbac.yaml.j2")),
    ("bootstrap-secrets.yaml.j2", include_str!("../../templates/bootstrap-secrets.yaml.j2")),
    ("apply.sh.j2", include_str!("../../templates/apply.sh.j2")),
    ("approve-csrs.sh.j2", include_str!("../../templates/approve-csrs.sh.j2")),
    ("haproxy.cfg.j2", include_str!("../../templates/haproxy.cfg.j2")),
    ("routes.sh", include_str!("../../templates/routes.sh")),
    ("haproxy-limits.conf", include_str!("../../templates/haproxy-limits.conf")),
    ("hardway-lb", include_str!("../../templates/hardway-lb")),
    ("fetch-secrets.sh.j2", include_str!("../../templates/fetch-secrets.sh.j2")),
];

fn env() -> &'static Result<Environment<'static>, String> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_keep_trailing_newline(true);
        // Strict mode lets an undefined value reach a filter; our tojson refuses it instead of printing null.
        env.add_filter("tojson", tojson);
        env.add_filter("shq", |s: String| escape::shell_word(&s));
        env.add_filter("unit", |s: String| escape::unit_text(&s));
        env.add_filter("sdword", |s: String| escape::systemd_word(&s));
        env.add_filter("haq", |s: String| escape::haproxy_word(&s));
        env.add_filter("comment", |s: String| escape::comment(&s));
        env.add_filter("literal", literal_filter);
        for (name, src) in TEMPLATES {
            env.add_template(name, src).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(env)
    })
}

/// A string as the YAML value of a key at column `indent - 2` (see `escape::yaml_literal`).
fn literal_filter(value: String, indent: usize) -> Result<String, minijinja::Error> {
    escape::yaml_literal(&value, indent).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::BadSerialization, e))
}

/// JSON for one value (a valid YAML flow scalar); undefined values are an error.
fn tojson(value: minijinja::Value) -> Result<String, minijinja::Error> {
    if value.is_undefined() {
        return Err(minijinja::Error::new(minijinja::ErrorKind::UndefinedError, "tojson of an undefined value"));
    }
    serde_json::to_string(&value)
        .map(|s| escape::del_escaped(&s))
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::BadSerialization, e.to_string()))
}

/// Renders the named template with `ctx`.
pub fn render(name: &str, ctx: impl Serialize) -> Result<String> {
    let env = env().as_ref().map_err(|e| Error::internal("templates", e))?;
    env.get_template(name).and_then(|t| t.render(ctx)).map_err(|e| Error::internal(name, format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn all_templates_compile_and_undefined_is_an_error() {
        assert!(super::env().is_ok());
        let e = super::render("admin-rbac.yaml.j2", minijinja::context! {});
        assert!(e.is_err(), "a missing variable must fail the render");
        let ok = super::render("admin-rbac.yaml.j2", minijinja::context! { group => "a\"b" });
        assert!(ok.is_ok_and(|s| s.contains("name: \"a\\\"b\"")));
    }
}
