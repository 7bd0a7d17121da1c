//! The one place values are escaped for the text they land in: shell scripts, systemd units, HAProxy
//! configuration, comments, YAML/JSON/TOML scalars. Templates reach these as filters (`shq`, `sdword`,
//! `unit`, `haq`, `comment`, `tojson`, `literal`); Rust code that builds such text calls them directly.

/// A POSIX shell word: single-quoted, `'` as `'\''`. Safe for any bytes but NUL.
pub fn shell_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// One argument of an ExecStart line: as is when it holds only safe characters, else double-quoted
/// with `"` and `\` escaped, `%` as `%%` (specifiers) and `$` as `$$` (variables); control characters
/// become C escapes, which systemd decodes.
pub fn systemd_word(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/:=,@+-*".contains(&b)) {
        return s.to_string();
    }
    let mut q = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' | '\\' => {
                q.push('\\');
                q.push(ch);
            }
            '%' => q.push_str("%%"),
            '$' => q.push_str("$$"),
            '\n' => q.push_str("\\n"),
            // ASCII controls as byte escapes; C1 controls (U+0080-U+009F) as the code points they are,
            // never as a lone byte that would not be UTF-8.
            c if c.is_control() && u32::from(c) < 0x80 => q.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if c.is_control() => q.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Text on one line of a unit file (`Description=`, `Documentation=`): specifiers doubled (`%%`),
/// control characters (a line break would start a new directive) replaced by `?`.
pub fn unit_text(s: &str) -> String {
    let mut t = comment(s).replace('%', "%%");
    // A line ending in a backslash continues on the next one.
    if t.ends_with('\\') {
        t.pop();
        t.push('?');
    }
    t
}

/// One word of an HAProxy configuration line: as is when it holds only safe characters, else in
/// single quotes (HAProxy expands nothing there), a `'` as `'\''` like a shell.
pub fn haproxy_word(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/:-[]*".contains(&b)) {
        return s.to_string();
    }
    let clean: String = s.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    format!("'{}'", clean.replace('\'', "'\\''"))
}

/// JSON text with DEL (U+007F) escaped too: serde_json leaves it raw, which TOML basic strings refuse.
pub fn del_escaped(json: &str) -> String {
    json.replace('\u{7f}', "\\u007f")
}

/// Text inside a `#` comment of a script, unit or YAML file: kept on its line (control characters
/// become `?`).
pub fn comment(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// A JSON string, which is also a valid YAML flow scalar and TOML basic string for any text.
pub fn json_string(s: &str) -> String {
    del_escaped(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()))
}

/// `text` as the YAML value of a key that starts at column `indent - 2`: a literal block indented by
/// `indent` where YAML can carry the text verbatim, else a quoted string, as serde-saphyr writes them.
pub fn yaml_literal(text: &str, indent: usize) -> Result<String, String> {
    let top = serde_saphyr::to_string(&serde_saphyr::LitStr(text)).map_err(|e| e.to_string())?;
    let top = top.strip_suffix('\n').unwrap_or(&top);
    // serde-saphyr indents block content by 2 at the top level: shift it to `indent`.
    let pad = " ".repeat(indent.saturating_sub(2));
    let mut lines = top.split('\n');
    let mut out = lines.next().unwrap_or_default().to_string();
    for l in lines {
        out.push('\n');
        if !l.is_empty() {
            out.push_str(&pad);
            out.push_str(l);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_lines_are_escaped_for_their_sink() {
        assert_eq!(systemd_word("--name=a-b_c.d/e:f,g"), "--name=a-b_c.d/e:f,g");
        assert_eq!(systemd_word("--x=a b"), "\"--x=a b\"");
        assert_eq!(systemd_word("--x=50%$"), "\"--x=50%%$$\"");
        assert_eq!(systemd_word("a\nb"), "\"a\\nb\"");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("a\nrm -rf /"), "'a\nrm -rf /'");
        assert_eq!(unit_text("50% on\nExecStart=/bin/evil"), "50%% on?ExecStart=/bin/evil");
        assert_eq!(comment("x\ny"), "x?y");
        assert_eq!(json_string("a\"\n"), "\"a\\\"\\n\"");
    }

    #[test]
    fn controls_and_line_ends_cannot_escape_their_sink() {
        // C1 controls stay code points (a lone \x85 byte would not be UTF-8); ASCII ones are bytes.
        assert_eq!(systemd_word("a\u{85}b"), "\"a\\u0085b\"");
        assert_eq!(systemd_word("a\u{1}b"), "\"a\\x01b\"");
        // A trailing backslash would continue the directive on the next line.
        assert_eq!(unit_text("ends with \\"), "ends with ?");
        assert_eq!(unit_text("mid\\dle"), "mid\\dle");
        // DEL is escaped in JSON (TOML basic strings refuse it raw).
        assert_eq!(json_string("del\u{7f}"), "\"del\\u007f\"");
        assert_eq!(haproxy_word("10.0.0.1:6443"), "10.0.0.1:6443");
        assert_eq!(haproxy_word("[fd00::1]:6443"), "[fd00::1]:6443");
        assert_eq!(haproxy_word("*:6443"), "*:6443");
        assert_eq!(haproxy_word("a b"), "'a b'");
        assert_eq!(haproxy_word("it's #x $HOME"), "'it'\\''s #x $HOME'");
        assert_eq!(haproxy_word("a\nserver evil 1.2.3.4"), "'a?server evil 1.2.3.4'");
        assert_eq!(haproxy_word(""), "''");
    }

    #[derive(serde::Deserialize)]
    struct Doc {
        c: String,
    }

    /// Every literal parses back to exactly the original text, at any indentation.
    #[test]
    fn literals_round_trip() {
        for text in [
            "a\nb\n",
            "a\nb",
            "a\n\n\n",
            "  lead\nx\n",
            "\n\nafter\n",
            "\n",
            "",
            "tab\there\n",
            "# c\n- l: {x}\n",
            "del\u{7f}\n",
            "cr\r\n",
        ] {
            for indent in [2, 4, 6] {
                let scalar = yaml_literal(text, indent).unwrap();
                let yaml = format!("{}c: {scalar}\n", " ".repeat(indent - 2));
                let doc: Doc = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{text:?} -> {yaml:?}: {e}"));
                assert_eq!(doc.c, text, "{yaml:?}");
            }
        }
    }
}
