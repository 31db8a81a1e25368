//! Name rules of Spin manifests: component ids, variable names, store labels, `{{ var }}`
//! templates.
//!
//! Sources: `spin@v3.6.3:crates/serde/src/id.rs` (ids), `crates/expressions/src/lib.rs`
//! (`Key::validate`, templates), spin.md §3 and §5.

use std::collections::BTreeMap;

/// Checks an id made of words joined by `delim`, as `spin-serde`'s `Id<DELIM, LOWER>` does:
/// words are non-empty; the first starts with an ASCII letter, later ones with a letter or digit;
/// a word is all lowercase or all uppercase (only lowercase when `lower`); `:` may appear inside
/// a word.
fn check_id(id: &str, delim: char, lower: bool) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty".into());
    }
    let wrong = if delim == '-' { '_' } else { '-' };
    if id.contains(wrong) {
        return Err(format!(
            "words must be separated with {delim:?}, not {wrong:?}"
        ));
    }
    for (i, word) in id.split(delim).enumerate() {
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Err(format!("{delim:?}-separated words must not be empty"));
        };
        if !(first.is_ascii_alphabetic() || (i > 0 && first.is_ascii_digit())) {
            return Err(format!(
                "{delim:?}-separated words must start with an ASCII letter or digit; got {first:?}"
            ));
        }
        let upper = first.is_ascii_uppercase();
        for ch in chars {
            if ch.is_ascii_digit() || ch == ':' {
                continue;
            }
            if !ch.is_ascii_alphanumeric() {
                return Err(format!(
                    "{delim:?}-separated words may only contain alphanumeric ASCII; got {ch:?}"
                ));
            }
            if ch.is_ascii_uppercase() != upper {
                return Err(format!(
                    "words must be all lowercase or all UPPERCASE; got {word:?}"
                ));
            }
        }
        if lower && upper {
            return Err(format!("must be all lowercase; got {id:?}"));
        }
    }
    Ok(())
}

/// A component id (`KebabId`): `webhook`, `datev-poller`.
pub(crate) fn check_component_id(id: &str) -> Result<(), String> {
    check_id(id, '-', false)
}

/// A store label: kebab-case or snake_case (`key_value_stores`, manifest schema v2).
pub(crate) fn check_label(label: &str) -> Result<(), String> {
    check_id(label, '-', false)
        .or_else(|_| check_id(label, '_', false))
        .map_err(|_| format!("{label:?} is neither kebab-case nor snake_case"))
}

/// A variable name (`LowerSnakeId` in the manifest, `Key::validate` at runtime): lowercase ASCII
/// letters, digits and `_`, starting with a letter, not ending with `_`, no `__`.
pub(crate) fn check_variable_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("{name:?} must start with a lowercase ASCII letter"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "{name:?} may contain only lowercase ASCII letters, digits and '_'; got {c:?}"
        ));
    }
    if name.ends_with('_') {
        return Err(format!("{name:?} must not end with '_'"));
    }
    if name.contains("__") {
        return Err(format!("{name:?} must not contain '__'"));
    }
    Ok(())
}

/// A string that may reference application variables as `{{ name }}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Parses `{{ name }}` references; every name must be a valid variable name.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed '{{{{' in {text:?}"))?;
            let name = after[..end].trim();
            check_variable_name(name).map_err(|e| format!("in {text:?}: {e}"))?;
            parts.push(Part::Variable(name.to_owned()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The application variables this template references, in order.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(v) => Some(v.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// True when the template references no variable.
    pub(crate) fn is_literal(&self) -> bool {
        self.references().next().is_none()
    }

    /// Substitutes every reference; `Err(name)` for the first one `values` lacks.
    pub(crate) fn resolve(&self, values: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Variable(v) => out.push_str(values.get(v).ok_or_else(|| v.clone())?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_ids_follow_spin_serde() {
        for ok in ["webhook", "datev-poller", "a1-2b", "API-x", "probe-lib"] {
            assert_eq!(check_component_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Webhook",
            "datev_poller",
            "-a",
            "a-",
            "a--b",
            "1a",
            "a.b",
            "aB",
        ] {
            assert!(check_component_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn variable_names_follow_key_validate() {
        for ok in ["a", "public_base_url", "x1", "a_b_c"] {
            assert_eq!(check_variable_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "_a", "a_", "a__b", "A", "1a", "a-b", "aB"] {
            assert!(check_variable_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_substitute_and_report_missing() {
        let t = Template::parse("https://{{ host }}:{{port}}/x").unwrap();
        assert_eq!(t.references().collect::<Vec<_>>(), ["host", "port"]);
        let mut values = BTreeMap::new();
        values.insert("host".to_owned(), "example.com".to_owned());
        assert_eq!(t.resolve(&values), Err("port".to_owned()));
        values.insert("port".to_owned(), "8443".to_owned());
        assert_eq!(t.resolve(&values).unwrap(), "https://example.com:8443/x");
        assert!(Template::parse("plain").unwrap().is_literal());
        assert!(Template::parse("{{ unclosed").is_err());
        assert!(Template::parse("{{ Bad }}").is_err());
    }
}
