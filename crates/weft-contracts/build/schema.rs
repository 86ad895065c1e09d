//! The part of Avro the contracts use, read from the `.avsc` JSON: every named type by full name,
//! field types with their logical types, and which envelope record is whose payload.
//!
//! Anything outside that subset (a union other than `["null", T]`, a decimal other than
//! `decimal(18,4)` on bytes, plain `bytes`, `fixed`) is an error naming the file and field: the
//! generator would otherwise have to guess a Rust type, and `schemas lint` refuses the same.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

/// A field's type.
#[derive(Debug, Clone)]
pub enum Type {
    String,
    Uuid,
    Int,
    Long,
    Float,
    Double,
    Boolean,
    /// `decimal(18,4)` on bytes.
    Decimal,
    TimestampMillis,
    Date,
    Array(Box<Type>),
    Map(Box<Type>),
    /// `["null", T]`.
    Optional(Box<Type>),
    /// A record or enum by full name.
    Named(String),
}

/// One field of a record.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub doc: Option<String>,
    pub ty: Type,
    pub default: Option<Json>,
}

/// A named type.
#[derive(Debug, Clone)]
pub enum Named {
    Record {
        doc: Option<String>,
        fields: Vec<Field>,
    },
    Enum {
        doc: Option<String>,
        symbols: Vec<String>,
        default: String,
    },
}

/// A named type and where it was defined.
#[derive(Debug, Clone)]
pub struct Definition {
    pub full_name: String,
    pub namespace: String,
    pub name: String,
    pub file: PathBuf,
    pub kind: Named,
}

/// Every named type of every schema file, and the envelope records.
#[derive(Debug, Default)]
pub struct Schemas {
    pub types: BTreeMap<String, Definition>,
    /// Envelope record full name -> its payload record's full name.
    pub payload_of: BTreeMap<String, String>,
    /// Envelope record full name -> the file it is in.
    pub file_of: BTreeMap<String, PathBuf>,
}

/// The envelope's metadata record: hand-written (`crate::envelope::EventMetadata`).
pub const METADATA: &str = "weft.common.EventMetadata";

impl Schemas {
    /// Reads every `.avsc` under `dir`.
    pub fn load(dir: &Path) -> Result<Schemas, String> {
        let mut files = Vec::new();
        collect_files(dir, "avsc", &mut files)?;
        files.sort();
        let mut schemas = Schemas::default();
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let json: Json = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
            let mut reader = Reader {
                file: &file,
                schemas: &mut schemas,
            };
            let top = reader.named(&json, "", "")?;
            schemas.index_envelope(&top, &file)?;
        }
        Ok(schemas)
    }

    /// An envelope is a top-level record with exactly the fields `metadata` and `payload`.
    fn index_envelope(&mut self, top: &str, file: &Path) -> Result<(), String> {
        let Some(Definition {
            kind: Named::Record { fields, .. },
            ..
        }) = self.types.get(top)
        else {
            return Ok(());
        };
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        if names != ["metadata", "payload"] {
            return Ok(());
        }
        match (&fields[0].ty, &fields[1].ty) {
            (Type::Named(m), Type::Named(p)) if m == METADATA => {
                self.payload_of.insert(top.to_string(), p.clone());
                self.file_of.insert(top.to_string(), file.to_path_buf());
                Ok(())
            }
            _ => Err(format!(
                "{}: {top}: an envelope's fields are metadata ({METADATA}) and a payload record",
                file.display()
            )),
        }
    }
}

struct Reader<'a> {
    file: &'a Path,
    schemas: &'a mut Schemas,
}

impl Reader<'_> {
    fn err(&self, at: &str, what: impl std::fmt::Display) -> String {
        format!("{}: {at}: {what}", self.file.display())
    }

    /// Reads a named type definition; returns its full name.
    fn named(&mut self, json: &Json, namespace: &str, at: &str) -> Result<String, String> {
        let name = json["name"]
            .as_str()
            .ok_or_else(|| self.err(at, "a named type without a name"))?;
        let namespace = json["namespace"].as_str().unwrap_or(namespace).to_string();
        let (namespace, name) = match name.rsplit_once('.') {
            Some((ns, n)) => (ns.to_string(), n.to_string()),
            None => (namespace, name.to_string()),
        };
        let full_name = format!("{namespace}.{name}");
        let at = if at.is_empty() {
            full_name.clone()
        } else {
            at.to_string()
        };
        let doc = json["doc"].as_str().map(str::to_string);
        let kind = match json["type"].as_str() {
            Some("record") => {
                let mut fields = Vec::new();
                for f in json["fields"]
                    .as_array()
                    .ok_or_else(|| self.err(&at, "a record without fields"))?
                {
                    let fname = f["name"]
                        .as_str()
                        .ok_or_else(|| self.err(&at, "a field without a name"))?;
                    let path = format!("{at}.{fname}");
                    let ty = self.ty(&f["type"], &namespace, &path)?;
                    fields.push(Field {
                        name: fname.to_string(),
                        doc: f["doc"].as_str().map(str::to_string),
                        ty,
                        default: f.get("default").cloned(),
                    });
                }
                Named::Record { doc, fields }
            }
            Some("enum") => {
                let symbols: Vec<String> = json["symbols"]
                    .as_array()
                    .ok_or_else(|| self.err(&at, "an enum without symbols"))?
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect();
                let default = json["default"].as_str().ok_or_else(|| {
                    self.err(
                        &at,
                        "an enum needs a default symbol (it catches symbols a newer writer adds)",
                    )
                })?;
                if !symbols.iter().any(|s| s == default) {
                    return Err(self.err(&at, format!("default {default:?} is not a symbol")));
                }
                Named::Enum {
                    doc,
                    symbols,
                    default: default.to_string(),
                }
            }
            other => {
                return Err(self.err(&at, format!("unsupported named type {other:?}")));
            }
        };
        if self.schemas.types.contains_key(&full_name) {
            // The same full name in two files is one type only if both define it alike; the
            // catalog checks that, here the first definition is kept.
            return Ok(full_name);
        }
        self.schemas.types.insert(
            full_name.clone(),
            Definition {
                full_name: full_name.clone(),
                namespace,
                name,
                file: self.file.to_path_buf(),
                kind,
            },
        );
        Ok(full_name)
    }

    fn ty(&mut self, json: &Json, namespace: &str, at: &str) -> Result<Type, String> {
        match json {
            Json::String(s) => self.primitive_or_ref(s, namespace, at),
            Json::Array(branches) => {
                let is_null = |b: &Json| b.as_str() == Some("null");
                match branches.as_slice() {
                    [n, t] if is_null(n) && !is_null(t) => {
                        Ok(Type::Optional(Box::new(self.ty(t, namespace, at)?)))
                    }
                    _ => Err(self.err(
                        at,
                        "only [\"null\", T] unions have a Rust type (Option<T>); reorder or split the union",
                    )),
                }
            }
            Json::Object(o) => {
                let ty = o.get("type").and_then(Json::as_str).unwrap_or_default();
                let logical = o.get("logicalType").and_then(Json::as_str);
                match (ty, logical) {
                    ("record" | "enum", _) => Ok(Type::Named(self.named(json, namespace, at)?)),
                    ("array", _) => Ok(Type::Array(Box::new(self.element(
                        &o["items"],
                        namespace,
                        &format!("{at}[]"),
                    )?))),
                    ("map", _) => Ok(Type::Map(Box::new(self.element(
                        &o["values"],
                        namespace,
                        &format!("{at}{{}}"),
                    )?))),
                    ("bytes", Some("decimal")) => {
                        let p = o.get("precision").and_then(Json::as_u64);
                        let s = o.get("scale").and_then(Json::as_u64);
                        if (p, s) == (Some(18), Some(4)) {
                            Ok(Type::Decimal)
                        } else {
                            Err(self.err(at, "decimals are decimal(18,4) on bytes (Decimal4)"))
                        }
                    }
                    ("string", Some("uuid")) => Ok(Type::Uuid),
                    ("long", Some("timestamp-millis")) => Ok(Type::TimestampMillis),
                    ("int", Some("date")) => Ok(Type::Date),
                    (primitive, None) => self.primitive_or_ref(primitive, namespace, at),
                    (t, Some(l)) => {
                        Err(self.err(at, format!("unsupported logical type {l} on {t}")))
                    }
                }
            }
            other => Err(self.err(at, format!("not a type: {other}"))),
        }
    }

    /// The type of an array item or map value: timestamps and dates there would need a serde
    /// adapter per element, which the contracts do not have.
    fn element(&mut self, json: &Json, namespace: &str, at: &str) -> Result<Type, String> {
        let ty = self.ty(json, namespace, at)?;
        let inner = match &ty {
            Type::Optional(t) => t.as_ref(),
            t => t,
        };
        if matches!(inner, Type::TimestampMillis | Type::Date) {
            return Err(self.err(
                at,
                "timestamps and dates inside arrays or maps have no contract type; wrap them in a record",
            ));
        }
        Ok(ty)
    }

    fn primitive_or_ref(&self, s: &str, namespace: &str, at: &str) -> Result<Type, String> {
        Ok(match s {
            "string" => Type::String,
            "int" => Type::Int,
            "long" => Type::Long,
            "float" => Type::Float,
            "double" => Type::Double,
            "boolean" => Type::Boolean,
            "bytes" | "fixed" | "null" => {
                return Err(self.err(at, format!("{s} has no contract type here")))
            }
            name if name.contains('.') => Type::Named(name.to_string()),
            name => Type::Named(format!("{namespace}.{name}")),
        })
    }
}

/// Every file under `dir` (recursively) whose name ends in `.{ext}`.
pub fn collect_files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            collect_files(&path, ext, out)?;
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    Ok(())
}
