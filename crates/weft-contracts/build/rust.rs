//! Rust source for the contracts: one module per Avro namespace under its system's module, a
//! struct per record, an `avro_enum!` per enum, a `Contract` impl per topic spec and an `Example`
//! impl per example file.
//!
//! Naming: a payload record (`OrderPlacedPayload`) takes its envelope's name (`OrderPlaced`), the
//! name processors think in; every other type keeps its Avro name. References are written as
//! absolute paths (`crate::b2b::order::OrderMoney`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value as Json;

use crate::schema::{Definition, Field, Named, Schemas, Type, METADATA};
use crate::topics::TopicSpec;

/// Everything generated, by system (`cypher`, `b2b`, ...): the body of `src/<system>/mod.rs`'s
/// `include!`, and the registration list.
pub struct Generated {
    pub systems: BTreeMap<String, String>,
    pub registry: String,
}

/// One module of the generated tree: its doc, its items, its submodules.
#[derive(Default)]
struct ModTree {
    doc: Option<String>,
    body: String,
    children: BTreeMap<String, ModTree>,
}

impl ModTree {
    fn write(&self, name: &str, out: &mut String) {
        let _ = writeln!(out, "pub mod {name} {{");
        match &self.doc {
            Some(doc) => {
                let _ = writeln!(out, "//! {doc}\n");
            }
            None => {
                let _ = writeln!(out, "//! Generated from `avro/`.\n");
            }
        }
        out.push_str(&self.body);
        for (child, tree) in &self.children {
            tree.write(child, out);
        }
        out.push_str("}\n");
    }
}

/// A contract: an envelope record with its topic spec and example.
struct ContractDef<'a> {
    envelope: &'a str,
    payload: &'a str,
    spec: &'a TopicSpec,
    example: Json,
    example_file: String,
}

pub fn generate(schemas: &Schemas, specs: &[TopicSpec], root: &Path) -> Result<Generated, String> {
    let names = RustNames::new(schemas);
    let mut contracts = Vec::new();
    for spec in specs {
        let Some(envelope) = spec.value_schema.as_deref() else {
            continue;
        };
        let payload = schemas.payload_of.get(envelope).ok_or_else(|| {
            format!(
                "{}: value_schema {envelope} is not an envelope record in avro/ (metadata + payload)",
                spec.file
            )
        })?;
        let avsc = &schemas.file_of[envelope];
        let example_path = avsc.with_extension("example.json");
        let example_file = example_path
            .strip_prefix(root)
            .unwrap_or(&example_path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&example_path).map_err(|e| {
            format!("{example_file}: {e}: every contract has an example payload beside its schema")
        })?;
        let example: Json =
            serde_json::from_str(&text).map_err(|e| format!("{example_file}: not JSON: {e}"))?;
        contracts.push(ContractDef {
            envelope,
            payload,
            spec,
            example,
            example_file,
        });
    }
    let mut seen = BTreeMap::new();
    for c in &contracts {
        if let Some(other) = seen.insert(c.envelope, &c.spec.file) {
            return Err(format!(
                "{} and {other} both name value_schema {}: one schema, one topic",
                c.spec.file, c.envelope
            ));
        }
    }

    // Items per module path (namespace), generated types first, then contract impls.
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for def in schemas.types.values() {
        // The envelope's own types (`weft.common.*`) are hand-written in `crate::envelope`.
        if def.namespace == "weft" || def.namespace.starts_with("weft.") {
            continue;
        }
        if schemas.payload_of.contains_key(&def.full_name) {
            continue;
        }
        let out = modules.entry(def.namespace.clone()).or_default();
        out.push_str(&names.item(def)?);
    }
    for c in &contracts {
        let def = &schemas.types[c.payload];
        let out = modules.entry(def.namespace.clone()).or_default();
        out.push_str(&contract_impl(&names, c)?);
        let expr = names
            .value(&Type::Named(c.payload.to_string()), &c.example, "payload")
            .map_err(|e| format!("{}: {e}", c.example_file))?;
        let rust = names.path(c.payload);
        let _ = writeln!(
            out,
            "impl crate::envelope::Example for {rust} {{\n    fn example() -> Self {{\n        {expr}\n    }}\n}}\n"
        );
    }

    // Namespaces nest (`composerp.inventory` and `composerp.inventory.v2`): one module tree per
    // system.
    let mut trees: BTreeMap<String, ModTree> = BTreeMap::new();
    for (namespace, body) in &modules {
        let mut parts = namespace.split('.');
        let system = parts.next().unwrap_or_default().to_string();
        let rest: Vec<&str> = parts.collect();
        if rest.is_empty() {
            return Err(format!(
                "namespace {namespace}: contracts live in <system>.<area> namespaces"
            ));
        }
        let events: Vec<String> = contracts
            .iter()
            .filter(|c| schemas.types[c.payload].namespace == *namespace)
            .map(|c| format!("`{}`", c.spec.event_type))
            .collect();
        let mut node = trees.entry(system).or_default();
        for part in rest {
            node = node.children.entry(part.to_string()).or_default();
        }
        node.doc = Some(format!(
            "Generated from `avro/` (namespace `{namespace}`): {}.",
            if events.is_empty() {
                "types shared by the namespace's events".to_string()
            } else {
                events.join(", ")
            }
        ));
        node.body.push_str(body);
    }
    let systems = trees
        .into_iter()
        .map(|(system, tree)| {
            let mut text = String::new();
            for (name, child) in &tree.children {
                child.write(name, &mut text);
            }
            (system, text)
        })
        .collect();

    let mut registry = String::from("vec![\n");
    for c in &contracts {
        let _ = writeln!(
            registry,
            "    ContractEntry::with_example::<{}>(include_str!({:?})),",
            names.path(c.payload),
            root.join(&c.example_file).display().to_string()
        );
    }
    registry.push_str("]\n");
    Ok(Generated { systems, registry })
}

fn contract_impl(names: &RustNames, c: &ContractDef<'_>) -> Result<String, String> {
    let Named::Record { fields, .. } = &names.def(c.payload).kind else {
        return Err(format!("{}: payload is not a record", c.payload));
    };
    let key = &c.spec.key;
    let key_field = fields.iter().find(|f| &f.name == key).ok_or_else(|| {
        format!(
            "{}: key {key:?} is not a field of {}'s payload",
            c.spec.file, c.envelope
        )
    })?;
    if !matches!(
        key_field.ty,
        Type::String | Type::Uuid | Type::Int | Type::Long
    ) {
        return Err(format!(
            "{}: key {key:?} must be a required string, uuid, int or long field (an entity id)",
            c.spec.file
        ));
    }
    let priority = match c.spec.priority.as_str() {
        "critical" => "Critical",
        "high" => "High",
        "normal" => "Normal",
        "low" => "Low",
        other => return Err(format!("{}: priority {other:?}", c.spec.file)),
    };
    let system = c.envelope.split('.').next().unwrap_or_default();
    let version = match &c.spec.event_version {
        Some(v) => format!("{v:?}"),
        None => format!("crate::{system}::EVENT_VERSION"),
    };
    Ok(format!(
        "impl crate::envelope::Contract for {rust} {{
    const SCHEMA: &'static str = {schema:?};
    const TOPIC: &'static str = {topic:?};
    const EVENT_TYPE: &'static str = {event_type:?};
    const EVENT_VERSION: &'static str = {version};
    const PRIORITY: crate::envelope::Priority = crate::envelope::Priority::{priority};
    const KEY_FIELD: &'static str = {key:?};

    fn key(&self) -> String {{
        self.{field}.to_string()
    }}
}}

",
        rust = names.path(c.payload),
        schema = c.envelope,
        topic = c.spec.name,
        event_type = c.spec.event_type,
        field = ident(key),
        version = version,
    ))
}

/// Rust names of the Avro types.
struct RustNames<'a> {
    schemas: &'a Schemas,
    /// Payload record full name -> envelope's simple name.
    renamed: BTreeMap<&'a str, &'a str>,
}

impl<'a> RustNames<'a> {
    fn new(schemas: &'a Schemas) -> Self {
        let renamed = schemas
            .payload_of
            .iter()
            .map(|(envelope, payload)| {
                let simple = envelope.rsplit('.').next().unwrap_or(envelope);
                (payload.as_str(), simple)
            })
            .collect();
        RustNames { schemas, renamed }
    }

    fn def(&self, full_name: &str) -> &'a Definition {
        &self.schemas.types[full_name]
    }

    fn name(&self, full_name: &str) -> String {
        match self.renamed.get(full_name) {
            Some(n) => n.to_string(),
            None => self.def(full_name).name.clone(),
        }
    }

    /// Absolute path of a named type.
    fn path(&self, full_name: &str) -> String {
        if full_name == METADATA {
            return "crate::envelope::EventMetadata".into();
        }
        let def = self.def(full_name);
        format!(
            "crate::{}::{}",
            def.namespace.replace('.', "::"),
            self.name(full_name)
        )
    }

    fn rust_type(&self, ty: &Type, at: &str) -> Result<String, String> {
        Ok(match ty {
            Type::String | Type::Uuid => "String".into(),
            Type::Int => "i32".into(),
            Type::Long => "i64".into(),
            Type::Float => "f32".into(),
            Type::Double => "f64".into(),
            Type::Boolean => "bool".into(),
            Type::Decimal => "crate::Decimal4".into(),
            Type::TimestampMillis => "chrono::DateTime<chrono::Utc>".into(),
            Type::Date => "chrono::NaiveDate".into(),
            Type::Array(t) => format!("Vec<{}>", self.rust_type(t, at)?),
            Type::Map(t) => format!(
                "std::collections::BTreeMap<String, {}>",
                self.rust_type(t, at)?
            ),
            Type::Optional(t) => {
                if matches!(**t, Type::Optional(_)) {
                    return Err(format!("{at}: a nested optional"));
                }
                format!("Option<{}>", self.rust_type(t, at)?)
            }
            Type::Named(n) => {
                if !self.schemas.types.contains_key(n) {
                    return Err(format!("{at}: unknown type {n}"));
                }
                self.path(n)
            }
        })
    }

    /// The serde adapter of a field's type, if it needs one.
    fn with(ty: &Type) -> Option<&'static str> {
        match ty {
            Type::TimestampMillis => Some("crate::time::millis"),
            Type::Date => Some("crate::time::date"),
            Type::Optional(t) => match **t {
                Type::TimestampMillis => Some("crate::time::millis_opt"),
                Type::Date => Some("crate::time::date_opt"),
                _ => None,
            },
            _ => None,
        }
    }

    /// A struct or enum definition.
    fn item(&self, def: &Definition) -> Result<String, String> {
        let name = self.name(&def.full_name);
        let mut out = String::new();
        match &def.kind {
            Named::Record { doc, fields } => {
                let doc = match self
                    .schemas
                    .payload_of
                    .iter()
                    .find(|(_, p)| **p == def.full_name)
                {
                    Some((envelope, _)) => format!(
                        "{} (the payload of Avro `{envelope}`)",
                        doc.as_deref().unwrap_or("")
                    ),
                    None => format!(
                        "{} (Avro `{}`)",
                        doc.as_deref().unwrap_or(""),
                        def.full_name
                    ),
                };
                let _ = writeln!(out, "#[doc = {:?}]", doc.trim());
                out.push_str(
                    "#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]\n",
                );
                let _ = writeln!(out, "pub struct {name} {{");
                for f in fields {
                    out.push_str(&self.field(def, f)?);
                }
                out.push_str("}\n\n");
            }
            Named::Enum {
                doc,
                symbols,
                default,
            } => {
                let variants: Vec<String> = symbols
                    .iter()
                    .filter(|s| *s != default)
                    .map(|s| format!("{} = {s:?}", variant(s)))
                    .collect();
                if variants.is_empty() {
                    return Err(format!(
                        "{}: {}: an enum with only its default symbol",
                        def.file.display(),
                        def.full_name
                    ));
                }
                let mut all: Vec<String> = symbols.iter().map(|s| variant(s)).collect();
                all.sort();
                all.dedup();
                if all.len() != symbols.len() {
                    return Err(format!(
                        "{}: {}: two symbols give the same Rust variant",
                        def.file.display(),
                        def.full_name
                    ));
                }
                let doc = format!(
                    "{} (Avro `{}`)",
                    doc.as_deref().unwrap_or(""),
                    def.full_name
                );
                let _ = writeln!(
                    out,
                    "crate::avro_enum! {{\n    #[doc = {:?}]\n    pub enum {name} {{\n        {};\n        default {} = {default:?}\n    }}\n}}\n",
                    doc.trim(),
                    variants.join(",\n        "),
                    variant(default),
                );
            }
        }
        Ok(out)
    }

    fn field(&self, def: &Definition, f: &Field) -> Result<String, String> {
        let at = format!("{}: {}.{}", def.file.display(), def.full_name, f.name);
        let mut out = String::new();
        if let Some(doc) = &f.doc {
            let _ = writeln!(out, "    #[doc = {doc:?}]");
        }
        if let Some(with) = Self::with(&f.ty) {
            let _ = writeln!(out, "    #[serde(with = {with:?})]");
        }
        let _ = writeln!(
            out,
            "    pub {}: {},",
            ident(&f.name),
            self.rust_type(&f.ty, &at)?
        );
        Ok(out)
    }

    /// A Rust expression of type `ty` for the example value `json`; `at` is its path.
    fn value(&self, ty: &Type, json: &Json, at: &str) -> Result<String, String> {
        let bad = |expected: &str| format!("{at}: expected {expected}, got {json}");
        Ok(match ty {
            Type::String | Type::Uuid => {
                let s = json.as_str().ok_or_else(|| bad("a string"))?;
                format!("String::from({s:?})")
            }
            Type::Int => {
                let n = json.as_i64().ok_or_else(|| bad("an int"))?;
                i32::try_from(n).map_err(|_| bad("an int"))?.to_string()
            }
            Type::Long => json.as_i64().ok_or_else(|| bad("a long"))?.to_string(),
            Type::Float | Type::Double => {
                let n = json.as_f64().ok_or_else(|| bad("a number"))?;
                format!("{n:?}")
            }
            Type::Boolean => json.as_bool().ok_or_else(|| bad("true or false"))?.to_string(),
            Type::Decimal => {
                let text = match json {
                    Json::String(s) => s.clone(),
                    Json::Number(n) => n.to_string(),
                    _ => return Err(bad("a decimal string")),
                };
                if !is_decimal4(&text) {
                    return Err(bad("a decimal with at most 4 fractional digits"));
                }
                format!("crate::dec({text:?})")
            }
            Type::TimestampMillis => match json {
                Json::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
                    format!("crate::time::ts({s:?})")
                }
                Json::Number(n) if n.is_i64() => format!(
                    "chrono::DateTime::from_timestamp_millis({n}).expect(\"an example timestamp in range\")"
                ),
                _ => return Err(bad("an RFC 3339 timestamp")),
            },
            Type::Date => {
                let s = json.as_str().ok_or_else(|| bad("a date YYYY-MM-DD"))?;
                if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
                    return Err(bad("a date YYYY-MM-DD"));
                }
                format!("crate::time::day({s:?})")
            }
            Type::Array(t) => {
                let items = json.as_array().ok_or_else(|| bad("an array"))?;
                let exprs: Result<Vec<String>, String> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.value(t, v, &format!("{at}[{i}]")))
                    .collect();
                format!("vec![{}]", exprs?.join(", "))
            }
            Type::Map(t) => {
                let entries = json.as_object().ok_or_else(|| bad("an object"))?;
                let exprs: Result<Vec<String>, String> = entries
                    .iter()
                    .map(|(k, v)| {
                        Ok(format!(
                            "(String::from({k:?}), {})",
                            self.value(t, v, &format!("{at}.{k}"))?
                        ))
                    })
                    .collect();
                format!("[{}].into_iter().collect()", exprs?.join(", "))
            }
            Type::Optional(t) => match json {
                Json::Null => "None".into(),
                v => format!("Some({})", self.value(t, v, at)?),
            },
            Type::Named(n) => match &self.def(n).kind {
                Named::Enum { symbols, .. } => {
                    let s = json.as_str().ok_or_else(|| bad("an enum symbol"))?;
                    if !symbols.iter().any(|x| x == s) {
                        return Err(bad(&format!("one of {symbols:?}")));
                    }
                    format!("{}::{}", self.path(n), variant(s))
                }
                Named::Record { fields, .. } => {
                    let obj = json.as_object().ok_or_else(|| bad("an object"))?;
                    if let Some(extra) = obj.keys().find(|k| !fields.iter().any(|f| &f.name == *k))
                    {
                        return Err(format!("{at}.{extra}: not a field of {n}"));
                    }
                    let mut parts = Vec::new();
                    for f in fields {
                        let path = format!("{at}.{}", f.name);
                        let v = match (obj.get(&f.name), &f.default) {
                            (Some(v), _) => v,
                            (None, Some(d)) => d,
                            (None, None) => {
                                return Err(format!("{path}: missing, and the field has no default"))
                            }
                        };
                        parts.push(format!("{}: {}", ident(&f.name), self.value(&f.ty, v, &path)?));
                    }
                    format!("{} {{ {} }}", self.path(n), parts.join(", "))
                }
            },
        })
    }
}

/// `IN_STOCK` -> `InStock`, `net30` -> `Net30`, `b2b` -> `B2b`.
fn variant(symbol: &str) -> String {
    symbol
        .split(['_', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let lower = p.to_ascii_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A field name as a Rust identifier (`type` -> `r#type`).
fn ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn",
        "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
        "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
        "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final",
        "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
    ];
    if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

/// `-12.5`, `3`, `0.0001`: what `Decimal4` parses exactly.
fn is_decimal4(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && frac.len() <= 4
        && frac.chars().all(|c| c.is_ascii_digit())
}
