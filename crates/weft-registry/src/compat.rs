//! Avro schema-resolution compatibility, the rules Confluent's registry enforces.
//!
//! [`check`] answers whether a new schema may follow existing versions of a subject under a
//! [`Level`]. A pair is judged by Avro's schema-resolution rules with one schema as the
//! *reader* and the other as the *writer*:
//! - BACKWARD: the new schema reads data written with the existing one(s);
//! - FORWARD: the existing schema(s) read data written with the new one;
//! - FULL: both. `_TRANSITIVE` levels check every existing version, the others only the latest.
//!
//! Each problem is an [`Incompatibility`] with a JSON-path-like location (`/fields/total`) and a
//! reason. Named references (`Schema::Ref`) are resolved within each schema; a schema that refers
//! to a name it does not define is reported as an incompatibility rather than a panic.

use std::collections::{HashMap, HashSet};

use apache_avro::schema::{Name, RecordSchema, Schema, UnionSchema};

/// A compatibility level, as Confluent names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Level {
    /// Every level, in Confluent's spelling order.
    pub const ALL: [Level; 7] = [
        Level::None,
        Level::Backward,
        Level::BackwardTransitive,
        Level::Forward,
        Level::ForwardTransitive,
        Level::Full,
        Level::FullTransitive,
    ];

    /// Confluent's name of the level (`BACKWARD_TRANSITIVE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Parses Confluent's name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }
    fn backward(self) -> bool {
        matches!(
            self,
            Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive
        )
    }
    fn forward(self) -> bool {
        matches!(
            self,
            Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive
        )
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason a schema cannot follow another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Where, from the root of the schema: `/fields/address/fields/zip`, `/items`, `/values`.
    pub path: String,
    /// Why, naming the reader and writer sides.
    pub reason: String,
    /// Which existing version (index into `existing` given to [`check`]) this was found against.
    pub against: usize,
    /// `BACKWARD` (new reads old) or `FORWARD` (old reads new).
    pub direction: &'static str,
}

impl std::fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} incompatibility at '{}': {}",
            self.direction,
            if self.path.is_empty() {
                "/"
            } else {
                &self.path
            },
            self.reason
        )
    }
}

/// Can `new` follow `existing` (oldest first) under `level`? An empty answer means yes.
pub fn check(level: Level, new: &Schema, existing: &[Schema]) -> Vec<Incompatibility> {
    if level == Level::None || existing.is_empty() {
        return Vec::new();
    }
    let first = if level.transitive() {
        0
    } else {
        existing.len() - 1
    };
    let mut found = Vec::new();
    for (i, old) in existing.iter().enumerate().skip(first) {
        if level.backward() {
            for (path, reason) in can_read(new, old) {
                found.push(Incompatibility {
                    path,
                    reason,
                    against: i,
                    direction: "BACKWARD",
                });
            }
        }
        if level.forward() {
            for (path, reason) in can_read(old, new) {
                found.push(Incompatibility {
                    path,
                    reason,
                    against: i,
                    direction: "FORWARD",
                });
            }
        }
    }
    found
}

/// Every reason why data written with `writer` cannot be read with `reader` (empty: it can).
pub fn can_read(reader: &Schema, writer: &Schema) -> Vec<(String, String)> {
    let mut ctx = Ctx {
        reader_names: names(reader),
        writer_names: names(writer),
        seen: HashSet::new(),
        out: Vec::new(),
    };
    ctx.pair(reader, writer, String::new());
    ctx.out
}

fn names(schema: &Schema) -> HashMap<String, &Schema> {
    fn walk<'a>(s: &'a Schema, into: &mut HashMap<String, &'a Schema>) {
        match s {
            Schema::Record(r) if into.insert(r.name.fullname(None), s).is_none() => {
                for f in &r.fields {
                    walk(&f.schema, into);
                }
            }
            Schema::Enum(e) => {
                into.insert(e.name.fullname(None), s);
            }
            Schema::Fixed(f) => {
                into.insert(f.name.fullname(None), s);
            }
            Schema::Array(a) => walk(&a.items, into),
            Schema::Map(m) => walk(&m.types, into),
            Schema::Union(u) => u.variants().iter().for_each(|v| walk(v, into)),
            _ => {}
        }
    }
    let mut map = HashMap::new();
    walk(schema, &mut map);
    map
}

struct Ctx<'a> {
    reader_names: HashMap<String, &'a Schema>,
    writer_names: HashMap<String, &'a Schema>,
    /// Named (reader, writer) pairs already being compared: recursive types terminate here.
    seen: HashSet<(String, String)>,
    out: Vec<(String, String)>,
}

/// The physical kind of a schema, logical types mapped onto what they annotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Other,
}

fn kind(s: &Schema) -> Kind {
    match s {
        Schema::Null => Kind::Null,
        Schema::Boolean => Kind::Boolean,
        Schema::Int | Schema::Date | Schema::TimeMillis => Kind::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Kind::Long,
        Schema::Float => Kind::Float,
        Schema::Double => Kind::Double,
        Schema::Bytes | Schema::BigDecimal => Kind::Bytes,
        Schema::Decimal(d) => match d.inner {
            apache_avro::schema::InnerDecimalSchema::Bytes => Kind::Bytes,
            apache_avro::schema::InnerDecimalSchema::Fixed(_) => Kind::Other,
        },
        Schema::Uuid(apache_avro::schema::UuidSchema::String) => Kind::String,
        Schema::Uuid(apache_avro::schema::UuidSchema::Bytes) => Kind::Bytes,
        Schema::String => Kind::String,
        _ => Kind::Other,
    }
}

/// Short human name of a schema's type, for messages.
fn describe(s: &Schema) -> String {
    match s {
        Schema::Record(r) => format!("record {}", r.name.fullname(None)),
        Schema::Enum(e) => format!("enum {}", e.name.fullname(None)),
        Schema::Fixed(f) => format!("fixed {}({})", f.name.fullname(None), f.size),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        Schema::Union(_) => "union".into(),
        Schema::Ref { name } => name.fullname(None),
        other => match kind(other) {
            Kind::Null => "null".into(),
            Kind::Boolean => "boolean".into(),
            Kind::Int => "int".into(),
            Kind::Long => "long".into(),
            Kind::Float => "float".into(),
            Kind::Double => "double".into(),
            Kind::Bytes => "bytes".into(),
            Kind::String => "string".into(),
            Kind::Other => format!("{other:?}"),
        },
    }
}

/// Can a writer of kind `w` be read as reader kind `r` (Avro's promotions included)?
fn promotes(r: Kind, w: Kind) -> bool {
    use Kind::*;
    r == w
        || matches!(
            (r, w),
            (Long, Int)
                | (Float, Int | Long)
                | (Double, Int | Long | Float)
                | (String, Bytes)
                | (Bytes, String)
        )
}

fn simple(name: &Name) -> String {
    name.name().to_string()
}

fn named_match(
    reader: &Name,
    reader_aliases: &Option<Vec<apache_avro::schema::Alias>>,
    writer: &Name,
) -> bool {
    simple(reader) == simple(writer)
        || reader_aliases
            .iter()
            .flatten()
            .any(|a| a.name() == writer.name())
}

impl<'a> Ctx<'a> {
    fn fail(&mut self, path: &str, reason: String) {
        self.out.push((path.to_string(), reason));
    }

    fn resolve(&self, s: &'a Schema, reader: bool) -> Option<&'a Schema> {
        match s {
            Schema::Ref { name } => {
                let table = if reader {
                    &self.reader_names
                } else {
                    &self.writer_names
                };
                table.get(&name.fullname(None)).copied()
            }
            other => Some(other),
        }
    }

    fn pair(&mut self, reader: &'a Schema, writer: &'a Schema, path: String) {
        let (Some(r), Some(w)) = (self.resolve(reader, true), self.resolve(writer, false)) else {
            self.fail(&path, "a named type is referenced but not defined".into());
            return;
        };
        match (r, w) {
            (_, Schema::Union(wu)) => self.writer_union(r, wu, path),
            (Schema::Union(ru), _) => {
                if !self.union_accepts(ru, w, &path) {
                    let reason = format!(
                        "reader union has no branch that can read writer type {}",
                        describe(w)
                    );
                    self.fail(&path, reason);
                }
            }
            (Schema::Record(rr), Schema::Record(wr)) => self.records(rr, wr, path),
            (Schema::Enum(re), Schema::Enum(we)) => {
                if !named_match(&re.name, &re.aliases, &we.name) {
                    self.fail(
                        &path,
                        format!(
                            "reader enum {} does not match writer enum {}",
                            re.name.fullname(None),
                            we.name.fullname(None)
                        ),
                    );
                    return;
                }
                let missing: Vec<&String> = we
                    .symbols
                    .iter()
                    .filter(|s| !re.symbols.contains(s))
                    .collect();
                if !missing.is_empty() && re.default.is_none() {
                    self.fail(
                        &format!("{path}/symbols"),
                        format!(
                            "reader enum {} lacks writer symbols {missing:?} and has no default",
                            re.name.fullname(None)
                        ),
                    );
                }
            }
            (Schema::Fixed(rf), Schema::Fixed(wf)) => {
                if !named_match(&rf.name, &rf.aliases, &wf.name) {
                    self.fail(
                        &path,
                        format!(
                            "reader fixed {} does not match writer fixed {}",
                            rf.name.fullname(None),
                            wf.name.fullname(None)
                        ),
                    );
                } else if rf.size != wf.size {
                    self.fail(
                        &format!("{path}/size"),
                        format!(
                            "reader fixed size {} differs from writer size {}",
                            rf.size, wf.size
                        ),
                    );
                }
            }
            (Schema::Array(ra), Schema::Array(wa)) => {
                self.pair(&ra.items, &wa.items, format!("{path}/items"))
            }
            (Schema::Map(rm), Schema::Map(wm)) => {
                self.pair(&rm.types, &wm.types, format!("{path}/values"))
            }
            _ => {
                let (rk, wk) = (kind(r), kind(w));
                if rk == Kind::Other || wk == Kind::Other || !promotes(rk, wk) {
                    let reason = format!(
                        "reader type {} cannot read writer type {}",
                        describe(r),
                        describe(w)
                    );
                    self.fail(&path, reason);
                }
            }
        }
    }

    /// Every writer branch must be readable by the reader.
    fn writer_union(&mut self, reader: &'a Schema, wu: &'a UnionSchema, path: String) {
        for (i, branch) in wu.variants().iter().enumerate() {
            let Some(wb) = self.resolve(branch, false) else {
                self.fail(&path, "a named type is referenced but not defined".into());
                continue;
            };
            match reader {
                Schema::Union(ru) => {
                    if !self.union_accepts(ru, wb, &path) {
                        let reason = format!(
                            "writer union branch {i} ({}) is missing from the reader union",
                            describe(wb)
                        );
                        self.fail(&path, reason);
                    }
                }
                _ => {
                    let before = self.out.len();
                    self.pair(reader, wb, path.clone());
                    if self.out.len() > before {
                        self.out.truncate(before);
                        let reason = format!(
                            "reader type {} cannot read writer union branch {i} ({})",
                            describe(reader),
                            describe(wb)
                        );
                        self.fail(&path, reason);
                    }
                }
            }
        }
    }

    /// Does some branch of the reader union read `w` (a non-union writer) without problems?
    /// Like Avro, an exact-kind or same-name branch is preferred; any readable branch counts.
    fn union_accepts(&mut self, ru: &'a UnionSchema, w: &'a Schema, path: &str) -> bool {
        for branch in ru.variants() {
            let before = self.out.len();
            self.pair(branch, w, path.to_string());
            let ok = self.out.len() == before;
            self.out.truncate(before);
            if ok {
                return true;
            }
        }
        false
    }

    fn records(&mut self, rr: &'a RecordSchema, wr: &'a RecordSchema, path: String) {
        if !named_match(&rr.name, &rr.aliases, &wr.name) {
            self.fail(
                &path,
                format!(
                    "reader record {} does not match writer record {}",
                    rr.name.fullname(None),
                    wr.name.fullname(None)
                ),
            );
            return;
        }
        let key = (rr.name.fullname(None), wr.name.fullname(None));
        if !self.seen.insert(key.clone()) {
            return;
        }
        for field in &rr.fields {
            let fpath = format!("{path}/fields/{}", field.name);
            let found = wr
                .fields
                .iter()
                .find(|w| w.name == field.name)
                .or_else(|| wr.fields.iter().find(|w| field.aliases.contains(&w.name)));
            match found {
                Some(wf) => self.pair(&field.schema, &wf.schema, fpath),
                None if field.default.is_some() => {}
                None => self.fail(
                    &fpath,
                    format!(
                        "reader field '{}' has no default value and is missing from writer record {}",
                        field.name,
                        wr.name.fullname(None)
                    ),
                ),
            }
        }
        self.seen.remove(&key);
    }
}

#[cfg(test)]
mod tests;
