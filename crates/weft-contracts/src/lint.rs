//! `weft schemas lint`: the house rules for every `.avsc` under a root directory.
//!
//! | rule | what it checks |
//! |---|---|
//! | `parse` | the file is JSON, and apache-avro parses the whole catalog (references resolved) |
//! | `naming` | records and enums PascalCase, fields snake_case, top-level name = file stem |
//! | `namespace` | the top-level namespace is `<system>.<domain>` of the path (`cypher/order/X.avsc` -> `cypher.order`); `common/` at the root is `weft.common` |
//! | `doc` | every record, enum and field has a non-empty `doc` |
//! | `money` | a field whose last word is a money word (amount, price, total, cost, ...) is a decimal or a money record, never float/double |
//! | `decimal` | decimals are bytes with explicit precision and scale, and weft's (18,4) |
//! | `optional` | a union with null puts null first and has `"default": null` |
//! | `enum-default` | every enum has a `default` that is one of its symbols |
//!
//! Every finding names the file, the field (a dotted path, when the finding is about one) and the
//! rule.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::catalog::{collect_avsc, Catalog};
use crate::error::ContractsError;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintFinding {
    /// The file.
    pub file: PathBuf,
    /// Dotted path of the field or type, when the finding is about one, e.g.
    /// `OrderCreated.payload.totals.total`.
    pub field: Option<String>,
    /// The rule, e.g. `money`.
    pub rule: &'static str,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl fmt::Display for LintFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(
                f,
                "{}: {field}: [{}] {}",
                self.file.display(),
                self.rule,
                self.message
            ),
            None => write!(
                f,
                "{}: [{}] {}",
                self.file.display(),
                self.rule,
                self.message
            ),
        }
    }
}

/// Last words of field names that hold money.
const MONEY_WORDS: &[&str] = &[
    "amount", "price", "total", "subtotal", "cost", "fee", "tax", "balance", "limit", "credit",
];

/// Lint every `.avsc` under `root`. An empty result means every file follows the rules.
pub fn lint(root: &Path) -> Vec<LintFinding> {
    let mut findings = Vec::new();
    let mut files = Vec::new();
    if let Err(e) = collect_avsc(root, &mut files) {
        findings.push(finding_from_error(root, e));
        return findings;
    }
    files.sort();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                findings.push(LintFinding {
                    file: file.clone(),
                    field: None,
                    rule: "parse",
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        match serde_json::from_str::<Json>(&text) {
            Ok(json) => lint_file(root, file, &json, &mut findings),
            Err(e) => findings.push(LintFinding {
                file: file.clone(),
                field: None,
                rule: "parse",
                message: format!("not valid JSON: {e}"),
            }),
        }
    }
    if !findings.iter().any(|f| f.rule == "parse") {
        if let Err(e) = Catalog::load(root) {
            findings.push(finding_from_error(root, e));
        }
    }
    findings
}

fn finding_from_error(root: &Path, error: ContractsError) -> LintFinding {
    let file = match &error {
        ContractsError::Io { path, .. }
        | ContractsError::Malformed { path, .. }
        | ContractsError::UnresolvedReference { path, .. } => path.clone(),
        ContractsError::Duplicate { second, .. } => second.clone(),
        _ => root.to_path_buf(),
    };
    LintFinding {
        file,
        field: None,
        rule: "parse",
        message: error.to_string(),
    }
}

fn is_pascal_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

fn is_snake_case(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('_')
        && !name.contains("__")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn has_doc(map: &Map<String, Json>) -> bool {
    map.get("doc")
        .and_then(Json::as_str)
        .is_some_and(|d| !d.trim().is_empty())
}

/// The namespace the path demands: `cypher/order/X.avsc` -> `cypher.order`; `common/X.avsc` ->
/// `weft.common`.
fn expected_namespace(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    let dirs: Vec<String> = relative
        .parent()
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if dirs.len() == 1 && dirs[0] == "common" {
        "weft.common".to_string()
    } else {
        dirs.join(".")
    }
}

fn lint_file(root: &Path, file: &Path, json: &Json, findings: &mut Vec<LintFinding>) {
    let mut push = |field: Option<String>, rule: &'static str, message: String| {
        findings.push(LintFinding {
            file: file.to_path_buf(),
            field,
            rule,
            message,
        })
    };
    let Some(map) = json.as_object() else {
        push(
            None,
            "parse",
            "the top level must be a named type".to_string(),
        );
        return;
    };
    let name = map.get("name").and_then(Json::as_str).unwrap_or_default();
    let (namespace, short) = match name.rsplit_once('.') {
        Some((ns, short)) => (ns.to_string(), short.to_string()),
        None => (
            map.get("namespace")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            name.to_string(),
        ),
    };
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if short != stem {
        push(
            Some(short.clone()),
            "naming",
            format!("the top-level type is {short} but the file is {stem}.avsc; they must match"),
        );
    }
    let expected = expected_namespace(root, file);
    if namespace != expected {
        push(
            Some(short.clone()),
            "namespace",
            format!(
                "namespace is `{namespace}`, the path demands `{expected}` (<system>.<domain>)"
            ),
        );
    }
    let mut inner = Vec::new();
    lint_type(json, &short, &mut inner);
    for (field, rule, message) in inner {
        push(field, rule, message);
    }
}

type Finding = (Option<String>, &'static str, String);

/// Lint a type; `path` names where it sits.
fn lint_type(json: &Json, path: &str, out: &mut Vec<Finding>) {
    match json {
        Json::Array(branches) => {
            for b in branches {
                lint_type(b, path, out);
            }
        }
        Json::Object(map) => match map.get("type") {
            Some(Json::String(kind)) => match kind.as_str() {
                "record" | "error" => lint_record(map, path, out),
                "enum" => lint_enum(map, path, out),
                "array" => {
                    if let Some(items) = map.get("items") {
                        lint_type(items, &format!("{path}[]"), out);
                    }
                }
                "map" => {
                    if let Some(values) = map.get("values") {
                        lint_type(values, &format!("{path}{{}}"), out);
                    }
                }
                "bytes" | "fixed"
                    if map.get("logicalType").and_then(Json::as_str) == Some("decimal") =>
                {
                    lint_decimal(map, path, out)
                }
                _ => {}
            },
            Some(other) => lint_type(other, path, out),
            None => {}
        },
        _ => {}
    }
}

fn lint_record(map: &Map<String, Json>, path: &str, out: &mut Vec<Finding>) {
    let name = map.get("name").and_then(Json::as_str).unwrap_or_default();
    let short = name.rsplit('.').next().unwrap_or(name);
    if !is_pascal_case(short) {
        out.push((
            Some(path.to_string()),
            "naming",
            format!("record {short} is not PascalCase"),
        ));
    }
    if !has_doc(map) {
        out.push((
            Some(path.to_string()),
            "doc",
            format!("record {short} has no doc"),
        ));
    }
    let Some(fields) = map.get("fields").and_then(Json::as_array) else {
        return;
    };
    for field in fields {
        let Some(field) = field.as_object() else {
            continue;
        };
        let fname = field.get("name").and_then(Json::as_str).unwrap_or_default();
        let fpath = format!("{path}.{fname}");
        if !is_snake_case(fname) {
            out.push((
                Some(fpath.clone()),
                "naming",
                format!("field {fname} is not snake_case"),
            ));
        }
        if !has_doc(field) {
            out.push((
                Some(fpath.clone()),
                "doc",
                format!("field {fname} has no doc"),
            ));
        }
        let Some(ty) = field.get("type") else {
            continue;
        };
        lint_optional(field, ty, &fpath, out);
        lint_money(fname, ty, &fpath, out);
        lint_type(ty, &fpath, out);
    }
}

fn lint_enum(map: &Map<String, Json>, path: &str, out: &mut Vec<Finding>) {
    let name = map.get("name").and_then(Json::as_str).unwrap_or_default();
    let short = name.rsplit('.').next().unwrap_or(name);
    if !is_pascal_case(short) {
        out.push((
            Some(path.to_string()),
            "naming",
            format!("enum {short} is not PascalCase"),
        ));
    }
    if !has_doc(map) {
        out.push((
            Some(path.to_string()),
            "doc",
            format!("enum {short} has no doc"),
        ));
    }
    let symbols: Vec<&str> = map
        .get("symbols")
        .and_then(Json::as_array)
        .map(|s| s.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    match map.get("default").and_then(Json::as_str) {
        Some(d) if symbols.contains(&d) => {}
        Some(d) => out.push((
            Some(path.to_string()),
            "enum-default",
            format!("enum {short} default `{d}` is not one of its symbols"),
        )),
        None => out.push((
            Some(path.to_string()),
            "enum-default",
            format!(
                "enum {short} has no default; readers cannot accept new symbols (add e.g. UNKNOWN)"
            ),
        )),
    }
}

fn lint_decimal(map: &Map<String, Json>, path: &str, out: &mut Vec<Finding>) {
    let precision = map.get("precision").and_then(Json::as_u64);
    let scale = map.get("scale").and_then(Json::as_u64);
    match (precision, scale) {
        (Some(18), Some(4)) => {}
        (Some(p), Some(s)) => out.push((
            Some(path.to_string()),
            "decimal",
            format!("decimal({p},{s}); weft decimals are decimal(18,4), what Decimal4 carries"),
        )),
        _ => out.push((
            Some(path.to_string()),
            "decimal",
            "decimal without explicit precision and scale".to_string(),
        )),
    }
}

fn lint_optional(field: &Map<String, Json>, ty: &Json, path: &str, out: &mut Vec<Finding>) {
    let Some(branches) = ty.as_array() else {
        return;
    };
    let null_at = branches.iter().position(|b| b.as_str() == Some("null"));
    match null_at {
        None => {}
        Some(0) if field.get("default") == Some(&Json::Null) => {}
        Some(0) => out.push((
            Some(path.to_string()),
            "optional",
            "optional field without \"default\": null; readers of older data cannot fill it"
                .to_string(),
        )),
        Some(_) => out.push((
            Some(path.to_string()),
            "optional",
            "null must be the first branch of an optional union, with \"default\": null"
                .to_string(),
        )),
    }
}

/// The non-null branches of a field type.
fn non_null(ty: &Json) -> Vec<&Json> {
    match ty {
        Json::Array(branches) => branches
            .iter()
            .filter(|b| b.as_str() != Some("null"))
            .collect(),
        other => vec![other],
    }
}

fn lint_money(name: &str, ty: &Json, path: &str, out: &mut Vec<Finding>) {
    let last = name.rsplit('_').next().unwrap_or(name);
    if !MONEY_WORDS.contains(&last) {
        return;
    }
    for branch in non_null(ty) {
        let (kind, logical) = match branch {
            Json::String(s) => (s.as_str(), None),
            Json::Object(m) => (
                m.get("type").and_then(Json::as_str).unwrap_or_default(),
                m.get("logicalType").and_then(Json::as_str),
            ),
            _ => ("", None),
        };
        let ok = logical == Some("decimal")
            || kind == "record"
            // A reference to a named type defined earlier (a money record such as OrderMoney).
            || (matches!(branch, Json::String(_))
                && !matches!(kind, "int" | "long" | "float" | "double" | "string" | "bytes" | "boolean"));
        if !ok {
            let why = if matches!(kind, "float" | "double") {
                format!("money as {kind} loses cents; use a decimal (bytes, decimal 18,4)")
            } else {
                format!("`{name}` looks like money but is {kind}; use a decimal (bytes, decimal 18,4) beside a currency")
            };
            out.push((Some(path.to_string()), "money", why));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_rules() {
        assert!(is_pascal_case("OrderCreated"));
        assert!(!is_pascal_case("orderCreated"));
        assert!(!is_pascal_case("Order_Created"));
        assert!(is_snake_case("order_id"));
        assert!(is_snake_case("net_30"));
        assert!(!is_snake_case("orderId"));
        assert!(!is_snake_case("order__id"));
        assert!(!is_snake_case("_order"));
    }
}
