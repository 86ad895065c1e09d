//! The schema catalog: every `.avsc` under a root directory, parsed together.
//!
//! Each file holds one named Avro type (a record, enum or fixed) at top level, e.g.
//! `avro/cypher/order/OrderCreated.avsc` holds `cypher.order.OrderCreated`. A file may refer to
//! named types defined in other files by their full name (every event refers to
//! `"weft.common.EventMetadata"`); the catalog finds those references, orders the files
//! dependency-first, and parses them together with `apache_avro::Schema::parse_list`.
//!
//! Per full name it exposes the file, the raw JSON, the parsed [`Schema`] (with `Ref`s to the
//! types of other files), the names it references (for Confluent schema references: the subject
//! of a referenced type is its full name) and a self-contained form with every reference inlined,
//! for clients that do not use references.
//!
//! Failure modes: unreadable files, malformed JSON, a name defined in two files, a reference to a
//! name no file defines, a reference cycle across files and Avro parse errors are all errors that
//! name the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use apache_avro::Schema;
use serde_json::Value as Json;

use crate::error::{ContractsError, Result};

/// The repository's `avro/` directory, found from this crate's manifest directory at compile time.
/// For tests and dev tools; binaries should take the directory as a setting.
pub fn repo_avro_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../avro")
}

/// The repository root, found from this crate's manifest directory at compile time.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One `.avsc` file and the named type it defines.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// Full Avro name of the top-level type, e.g. `cypher.order.OrderCreated`.
    pub full_name: String,
    /// The file.
    pub path: PathBuf,
    /// The file relative to the catalog root, e.g. `cypher/order/OrderCreated.avsc`.
    pub relative_path: PathBuf,
    /// The file's text.
    pub raw: String,
    /// The file's JSON.
    pub json: Json,
    /// The parsed schema; types of other files appear as `Schema::Ref`.
    pub schema: Schema,
    /// Full names of the named types of *other* files this file refers to (direct references),
    /// sorted. A reference may name a type nested inside another file's top-level type.
    pub references: Vec<String>,
    /// The top-level full names of the files those references live in, sorted: the Confluent
    /// schema references of this schema (subject = full name).
    pub depends_on: Vec<String>,
    /// Every named type this file defines, the top-level one first.
    pub defines: Vec<String>,
}

/// Every schema under a root directory, resolved together.
#[derive(Debug, Clone)]
pub struct Catalog {
    root: PathBuf,
    entries: BTreeMap<String, CatalogEntry>,
    order: Vec<String>,
    schemata: Vec<Schema>,
}

impl Catalog {
    /// Load every `*.avsc` under `root` (recursively).
    pub fn load(root: impl AsRef<Path>) -> Result<Catalog> {
        let root = root.as_ref().to_path_buf();
        let mut files = Vec::new();
        collect_avsc(&root, &mut files)?;
        files.sort();

        // Read and scan every file.
        let mut scanned: Vec<Scanned> = Vec::new();
        for path in files {
            let raw = std::fs::read_to_string(&path).map_err(|e| ContractsError::io(&path, e))?;
            let json: Json = serde_json::from_str(&raw).map_err(|e| ContractsError::Malformed {
                path: path.clone(),
                problem: format!("not valid JSON: {e}"),
            })?;
            let names = scan_names(&json).map_err(|problem| ContractsError::Malformed {
                path: path.clone(),
                problem,
            })?;
            scanned.push(Scanned {
                path,
                raw,
                json,
                names,
            });
        }

        // Who defines what.
        let mut definer: BTreeMap<String, usize> = BTreeMap::new();
        for (i, file) in scanned.iter().enumerate() {
            for name in &file.names.defines {
                if let Some(&first) = definer.get(name) {
                    return Err(ContractsError::Duplicate {
                        name: name.clone(),
                        first: scanned[first].path.clone(),
                        second: file.path.clone(),
                    });
                }
                definer.insert(name.clone(), i);
            }
        }

        // File-level dependencies.
        let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); scanned.len()];
        let mut external: Vec<Vec<String>> = vec![Vec::new(); scanned.len()];
        for (i, file) in scanned.iter().enumerate() {
            for name in &file.names.references {
                if file.names.defines.contains(name) {
                    continue;
                }
                match definer.get(name) {
                    Some(&j) => {
                        deps[i].insert(j);
                        external[i].push(name.clone());
                    }
                    None => {
                        return Err(ContractsError::UnresolvedReference {
                            path: file.path.clone(),
                            name: name.clone(),
                        })
                    }
                }
            }
            external[i].sort();
            external[i].dedup();
        }

        let order = topological_order(&scanned, &deps)?;

        let raws: Vec<&str> = order.iter().map(|&i| scanned[i].raw.as_str()).collect();
        let schemata = match Schema::parse_list(&raws) {
            Ok(s) => s,
            Err(e) => return Err(pinpoint_parse_error(&scanned, &order, &deps, e)),
        };

        let mut entries = BTreeMap::new();
        let mut names_in_order = Vec::new();
        for (&i, schema) in order.iter().zip(schemata.iter()) {
            let file = &scanned[i];
            let full_name = file.names.defines[0].clone();
            let parsed_name = schema.name().map(|n| n.fullname(None)).unwrap_or_default();
            if parsed_name != full_name {
                return Err(ContractsError::Malformed {
                    path: file.path.clone(),
                    problem: format!(
                        "parsed as {parsed_name}, expected {full_name}; the catalog lost track of parse order"
                    ),
                });
            }
            let relative_path = file
                .path
                .strip_prefix(&root)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| file.path.clone());
            names_in_order.push(full_name.clone());
            entries.insert(
                full_name.clone(),
                CatalogEntry {
                    full_name,
                    path: file.path.clone(),
                    relative_path,
                    raw: file.raw.clone(),
                    json: file.json.clone(),
                    schema: schema.clone(),
                    references: external[i].clone(),
                    depends_on: deps[i]
                        .iter()
                        .map(|&j| scanned[j].names.defines[0].clone())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                    defines: file.names.defines.clone(),
                },
            );
        }

        Ok(Catalog {
            root,
            entries,
            order: names_in_order,
            schemata,
        })
    }

    /// The directory this catalog was loaded from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry of a top-level full name.
    pub fn get(&self, full_name: &str) -> Option<&CatalogEntry> {
        self.entries.get(full_name)
    }

    /// The entry of a top-level full name, or an error naming it.
    pub fn entry(&self, full_name: &str) -> Result<&CatalogEntry> {
        self.get(full_name)
            .ok_or_else(|| ContractsError::UnknownSchema(full_name.to_string()))
    }

    /// Every entry, by full name.
    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values()
    }

    /// Every top-level full name, dependency-first: a name comes after every name it references.
    /// Register subjects in this order.
    pub fn dependency_order(&self) -> &[String] {
        &self.order
    }

    /// Every parsed schema, in [`Self::dependency_order`]; the `schemata` argument apache-avro's
    /// writers and readers take to resolve references.
    pub fn schemata(&self) -> &[Schema] {
        &self.schemata
    }

    /// The full names `full_name` depends on, transitively, dependency-first (not including
    /// itself).
    pub fn dependencies(&self, full_name: &str) -> Result<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = self.entry(full_name)?.depends_on.clone();
        while let Some(name) = stack.pop() {
            if seen.insert(name.clone()) {
                stack.extend(self.entry(&name)?.depends_on.iter().cloned());
            }
        }
        Ok(self
            .order
            .iter()
            .filter(|n| seen.contains(n.as_str()))
            .cloned()
            .collect())
    }

    /// The schema of `full_name` with every reference inlined: self-contained, with docs and
    /// defaults. Use it to encode and decode, and to register with clients that do not use
    /// schema references.
    pub fn self_contained(&self, full_name: &str) -> Result<Schema> {
        let mut schema = self.entry(full_name)?.schema.clone();
        schema.denormalize(&self.schemata).map_err(|e| {
            ContractsError::avro(format!("inlining the references of {full_name}"), e)
        })?;
        Ok(schema)
    }

    /// The self-contained schema of `full_name` as JSON text.
    pub fn self_contained_json(&self, full_name: &str) -> Result<String> {
        let schema = self.self_contained(full_name)?;
        let path = self.entry(full_name)?.path.clone();
        serde_json::to_string(&schema).map_err(|e| ContractsError::Malformed {
            path,
            problem: format!("cannot print the self-contained schema: {e}"),
        })
    }

    /// The Avro Parsing Canonical Form of `full_name` with references inlined (no docs, no
    /// defaults): what fingerprints are computed over.
    pub fn canonical_form(&self, full_name: &str) -> Result<String> {
        self.entry(full_name)?
            .schema
            .independent_canonical_form(&self.schemata)
            .map_err(|e| ContractsError::avro(format!("canonical form of {full_name}"), e))
    }
}

struct Scanned {
    path: PathBuf,
    raw: String,
    json: Json,
    names: Names,
}

/// The named types a schema JSON defines and refers to.
#[derive(Debug, Default)]
struct Names {
    defines: Vec<String>,
    references: Vec<String>,
}

const PRIMITIVES: &[&str] = &[
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

pub(crate) fn collect_avsc(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let read = std::fs::read_dir(dir).map_err(|e| ContractsError::io(dir, e))?;
    for item in read {
        let item = item.map_err(|e| ContractsError::io(dir, e))?;
        let path = item.path();
        let kind = item.file_type().map_err(|e| ContractsError::io(&path, e))?;
        if kind.is_dir() {
            collect_avsc(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "avsc") {
            out.push(path);
        }
    }
    Ok(())
}

/// Resolve `name` against the enclosing namespace per the Avro specification.
fn full_name(name: &str, namespace: Option<&str>) -> String {
    if name.contains('.') {
        return name.to_string();
    }
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn scan_names(json: &Json) -> std::result::Result<Names, String> {
    let mut names = Names::default();
    match json {
        Json::Object(map)
            if matches!(
                map.get("type").and_then(Json::as_str),
                Some("record" | "error" | "enum" | "fixed")
            ) => {}
        _ => return Err("the top level must be a named type (record, enum or fixed)".to_string()),
    }
    scan_type(json, None, &mut names)?;
    names.references.sort();
    names.references.dedup();
    Ok(names)
}

fn scan_type(
    json: &Json,
    namespace: Option<&str>,
    names: &mut Names,
) -> std::result::Result<(), String> {
    match json {
        Json::String(s) => {
            if !PRIMITIVES.contains(&s.as_str()) {
                names.references.push(full_name(s, namespace));
            }
            Ok(())
        }
        Json::Array(branches) => {
            for b in branches {
                scan_type(b, namespace, names)?;
            }
            Ok(())
        }
        Json::Object(map) => {
            let kind = map.get("type");
            match kind.and_then(Json::as_str) {
                Some("record" | "error" | "enum" | "fixed") => {
                    let name = map
                        .get("name")
                        .and_then(Json::as_str)
                        .ok_or("a named type without a name")?;
                    let own_ns = map.get("namespace").and_then(Json::as_str).or(namespace);
                    let full = full_name(name, own_ns);
                    let child_ns = full.rsplit_once('.').map(|(ns, _)| ns.to_string());
                    names.defines.push(full);
                    if let Some(fields) = map.get("fields").and_then(Json::as_array) {
                        for field in fields {
                            let ty = field.get("type").ok_or("a field without a type")?;
                            scan_type(ty, child_ns.as_deref(), names)?;
                        }
                    }
                    Ok(())
                }
                Some("array") => scan_type(
                    map.get("items").ok_or("an array without items")?,
                    namespace,
                    names,
                ),
                Some("map") => scan_type(
                    map.get("values").ok_or("a map without values")?,
                    namespace,
                    names,
                ),
                Some(_) => Ok(()),
                None => match kind {
                    Some(inner) => scan_type(inner, namespace, names),
                    None => Err("a type object without a type".to_string()),
                },
            }
        }
        _ => Err(format!("not a schema: {json}")),
    }
}

fn topological_order(scanned: &[Scanned], deps: &[BTreeSet<usize>]) -> Result<Vec<usize>> {
    // Kahn's algorithm, always taking the smallest ready full name for a stable order.
    let mut remaining: BTreeMap<String, usize> = scanned
        .iter()
        .enumerate()
        .map(|(i, f)| (f.names.defines[0].clone(), i))
        .collect();
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut order = Vec::with_capacity(scanned.len());
    while !remaining.is_empty() {
        let ready = remaining
            .iter()
            .find(|(_, &i)| deps[i].iter().all(|d| done.contains(d)))
            .map(|(name, &i)| (name.clone(), i));
        match ready {
            Some((name, i)) => {
                remaining.remove(&name);
                done.insert(i);
                order.push(i);
            }
            None => {
                let stuck: Vec<&str> = remaining.keys().map(String::as_str).collect();
                return Err(ContractsError::Cycle(stuck.join(", ")));
            }
        }
    }
    Ok(order)
}

/// `parse_list` failed somewhere; parse file by file (each with its dependencies) to name the file.
fn pinpoint_parse_error(
    scanned: &[Scanned],
    order: &[usize],
    deps: &[BTreeSet<usize>],
    whole: apache_avro::Error,
) -> ContractsError {
    for &i in order {
        let mut needed = BTreeSet::new();
        let mut stack: Vec<usize> = deps[i].iter().copied().collect();
        while let Some(j) = stack.pop() {
            if needed.insert(j) {
                stack.extend(deps[j].iter().copied());
            }
        }
        let dep_raws: Vec<&str> = order
            .iter()
            .filter(|j| needed.contains(j))
            .map(|&j| scanned[j].raw.as_str())
            .collect();
        let result = if dep_raws.is_empty() {
            Schema::parse_str(&scanned[i].raw).map(|_| ())
        } else {
            Schema::parse_str_with_list(&scanned[i].raw, &dep_raws).map(|_| ())
        };
        if let Err(e) = result {
            return ContractsError::avro(format!("parsing {}", scanned[i].path.display()), e);
        }
    }
    ContractsError::avro("parsing the catalog", whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const META: &str = r#"{"type":"record","name":"Meta","namespace":"t.common","fields":[
        {"name":"id","type":"string"},
        {"name":"level","type":{"type":"enum","name":"Level","symbols":["a","b"],"default":"a"}}]}"#;
    const EVENT: &str = r#"{"type":"record","name":"Ev","namespace":"t.x","fields":[
        {"name":"metadata","type":"t.common.Meta"},
        {"name":"again","type":["null","t.common.Level"],"default":null},
        {"name":"payload","type":{"type":"record","name":"EvPayload","fields":[{"name":"n","type":"long"}]}}]}"#;

    #[test]
    fn resolves_references_dependency_first() {
        let dir = tempfile::tempdir().unwrap();
        // The event sorts before its dependency by path; the order must still put Meta first.
        write(dir.path(), "a/Ev.avsc", EVENT);
        write(dir.path(), "z/Meta.avsc", META);
        let catalog = Catalog::load(dir.path()).unwrap();
        assert_eq!(catalog.dependency_order(), ["t.common.Meta", "t.x.Ev"]);
        let ev = catalog.entry("t.x.Ev").unwrap();
        assert_eq!(ev.references, ["t.common.Level", "t.common.Meta"]);
        assert_eq!(ev.depends_on, ["t.common.Meta"]);
        assert_eq!(ev.defines, ["t.x.Ev", "t.x.EvPayload"]);
        assert_eq!(ev.relative_path, Path::new("a/Ev.avsc"));
        assert_eq!(catalog.dependencies("t.x.Ev").unwrap(), ["t.common.Meta"]);
        let inlined = catalog.self_contained_json("t.x.Ev").unwrap();
        assert!(
            inlined.contains("\"Meta\"") && inlined.contains("\"symbols\""),
            "{inlined}"
        );
        // The self-contained form parses on its own.
        Schema::parse_str(&inlined).unwrap();
        let canonical = catalog.canonical_form("t.x.Ev").unwrap();
        assert!(canonical.contains("t.common.Meta"), "{canonical}");
    }

    #[test]
    fn reports_missing_references_duplicates_and_cycles() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Ev.avsc", EVENT);
        let err = Catalog::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("Ev.avsc") && err.contains("which no .avsc file"),
            "{err}"
        );

        write(dir.path(), "Meta.avsc", META);
        write(dir.path(), "Meta2.avsc", META);
        let err = Catalog::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("defined twice"), "{err}");

        let cyc = tempfile::tempdir().unwrap();
        write(
            cyc.path(),
            "A.avsc",
            r#"{"type":"record","name":"c.A","fields":[{"name":"b","type":["null","c.B"],"default":null}]}"#,
        );
        write(
            cyc.path(),
            "B.avsc",
            r#"{"type":"record","name":"c.B","fields":[{"name":"a","type":["null","c.A"],"default":null}]}"#,
        );
        let err = Catalog::load(cyc.path()).unwrap_err().to_string();
        assert!(err.contains("cycle"), "{err}");
    }

    #[test]
    fn names_the_file_avro_rejects() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Meta.avsc", META);
        write(
            dir.path(),
            "Bad.avsc",
            r#"{"type":"record","name":"t.Bad","fields":[{"name":"x","type":{"type":"enum","name":"E","symbols":["a","a"]}}]}"#,
        );
        let err = Catalog::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("Bad.avsc"), "{err}");
    }
}
