//! `weft schemas lint|check|register|diff|list`: the Avro contracts in `avro/` against the house
//! rules, against a git ref, and against a Confluent-compatible schema registry.
//!
//! - `lint` prints every broken rule as `file: field: rule: message` and exits 1 when there is one.
//! - `check --against <ref>` compares every schema changed since the ref (and every schema that
//!   embeds a changed one) under the compatibility level of its topic spec (`BACKWARD` when the
//!   spec says nothing; shared types use `BACKWARD`), prints `file: subject: LEVEL: problem` per
//!   incompatibility and exits 3 when there is one.
//! - `register` puts every schema into the registry in dependency order: for each topic spec the
//!   subject `value_subject` (`<topic>-value`, TopicNameStrategy) with the self-contained form of
//!   its `value_schema`; every schema no topic uses (the shared `weft.common.EventMetadata`) under
//!   its full name. Before registering it sets the subject's compatibility level from the spec.
//!   It prints `subject id version registered|unchanged`; a second run changes nothing. A schema
//!   the registry rejects as incompatible is printed with the registry's message and makes the
//!   command exit 3 after the other subjects are done. The per-subject step is
//!   `weft_schema_client::SchemaRegistryClient::publish`; this module plans and prints.
//! - `diff` shows what `register` would do without writing; exits 3 when the registry would
//!   reject a schema.
//! - `list` prints every subject of the registry with its latest id and version.
//!
//! Why self-contained and not Confluent references: the runtime (`weft_runtime::schemas`) writes
//! and checks self-contained schemas, readers need no reference resolution, and the compatibility
//! of each subject then covers the envelope it embeds. `weft.common.EventMetadata` still gets its
//! own subject so a change to the envelope is checked on its own as well.
//!
//! Failure modes: a malformed `.avsc` or topic spec, a spec whose `value_schema` no `.avsc`
//! defines, a git ref that does not exist, an unreachable registry or any registry error other
//! than an incompatibility stop the command with exit 1 and a message naming the file, ref,
//! subject or URL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value as Json;
use weft_contracts::check::{check_against_git_ref, ChangeKind};
use weft_contracts::lint::lint;
use weft_contracts::Catalog;
use weft_core::spec::SpecSet;
use weft_schema_client::{Preview, Published, SchemaRegistryClient, SubjectSchema};

use crate::{out, Outcome};

#[derive(Debug, Args)]
pub struct SchemasArgs {
    #[command(subcommand)]
    action: SchemasAction,
}

/// Where the schemas and topic specs are.
#[derive(Debug, Args)]
struct SourceArgs {
    /// Directory of the `.avsc` files.
    #[arg(long, env = "WEFT_AVRO_DIR", default_value = "avro")]
    dir: PathBuf,
    /// Directory of the topic specs (subjects and compatibility levels).
    #[arg(long, env = "WEFT_TOPICS_DIR", default_value = "topics")]
    topics: PathBuf,
}

/// How to reach the schema registry.
#[derive(Debug, Args)]
struct RegistryArgs {
    /// Base URL of the Confluent-compatible schema registry.
    #[arg(
        long,
        env = "WEFT_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    registry_url: String,
    /// User for HTTP basic auth (a Confluent Cloud API key).
    #[arg(long, env = "WEFT_REGISTRY_USERNAME")]
    registry_username: Option<String>,
    /// Password for HTTP basic auth (a Confluent Cloud API secret).
    #[arg(long, env = "WEFT_REGISTRY_PASSWORD", hide_env_values = true)]
    registry_password: Option<String>,
}

impl RegistryArgs {
    fn client(&self) -> anyhow::Result<SchemaRegistryClient> {
        let client = SchemaRegistryClient::new(&self.registry_url)?;
        Ok(match (&self.registry_username, &self.registry_password) {
            (Some(user), password) => {
                client.with_basic_auth(user, password.as_deref().unwrap_or_default())
            }
            (None, Some(_)) => bail!("--registry-password needs --registry-username"),
            (None, None) => client,
        })
    }
}

#[derive(Debug, Subcommand)]
enum SchemasAction {
    /// Check every .avsc against the house rules (exit 1 on findings).
    Lint {
        /// Directory of the `.avsc` files.
        #[arg(long, env = "WEFT_AVRO_DIR", default_value = "avro")]
        dir: PathBuf,
    },
    /// Check schemas changed since a git ref for compatibility (exit 3 on an incompatibility).
    Check {
        /// The git ref to compare with (a branch, tag or commit).
        #[arg(long, env = "WEFT_SCHEMAS_AGAINST")]
        against: String,
        /// A directory inside the git work tree; its `avro/` and `topics/` are read.
        #[arg(long, env = "WEFT_REPO_ROOT", default_value = ".")]
        repo: PathBuf,
    },
    /// Register every schema in dependency order, setting each subject's level first.
    Register {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Show what register would do, without writing (exit 3 if the registry would reject).
    Diff {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Every subject of the registry with its latest id and version.
    List {
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

pub async fn run(args: SchemasArgs) -> anyhow::Result<Outcome> {
    match args.action {
        SchemasAction::Lint { dir } => run_lint(&dir),
        SchemasAction::Check { against, repo } => run_check(&repo, &against),
        SchemasAction::Register { source, registry } => {
            run_register(&source, &registry, false, true).await
        }
        SchemasAction::Diff { source, registry } => {
            run_register(&source, &registry, true, true).await
        }
        SchemasAction::List { registry } => run_list(&registry).await,
    }
}

fn run_lint(dir: &Path) -> anyhow::Result<Outcome> {
    if !dir.is_dir() {
        bail!("{} is not a directory of .avsc files", dir.display());
    }
    let findings = lint(dir);
    for f in &findings {
        out(&format!(
            "{}: {}: {}: {}\n",
            f.file.display(),
            f.field.as_deref().unwrap_or("-"),
            f.rule,
            f.message
        ));
    }
    if findings.is_empty() {
        let catalog = Catalog::load(dir)?;
        out(&format!(
            "ok: {} schemas in {} follow the rules\n",
            catalog.entries().count(),
            dir.display()
        ));
        Ok(Outcome::Ok)
    } else {
        Err(anyhow!(
            "{} lint finding(s) in {}",
            findings.len(),
            dir.display()
        ))
    }
}

/// The top level of the git work tree that holds `dir`.
fn git_toplevel(dir: &Path) -> anyhow::Result<PathBuf> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .with_context(|| format!("cannot run git in {}", dir.display()))?;
    if !output.status.success() {
        bail!(
            "{} is not inside a git work tree: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
    ))
}

fn run_check(repo: &Path, against: &str) -> anyhow::Result<Outcome> {
    let root = git_toplevel(repo)?;
    // The registry's own rules (Avro schema resolution), so CI refuses what `weft registry`
    // would. Only the ref's version is known here, so transitive levels check against it alone.
    let compat = |new: &apache_avro::Schema, old: &apache_avro::Schema, level: &str| {
        let problems: Vec<String> = match weft_registry::compat::Level::parse(level) {
            Some(l) => weft_registry::compat::check(l, new, std::slice::from_ref(old))
                .iter()
                .map(ToString::to_string)
                .collect(),
            None => vec![format!("unknown compatibility level {level}")],
        };
        if problems.is_empty() {
            return problems;
        }
        let mut located = field_problems(new, old, level);
        located.extend(problems);
        located
    };
    let changes = check_against_git_ref(&root, against, &compat)
        .with_context(|| format!("checking avro/ against {against}"))?;
    let mut incompatible = 0;
    for c in &changes {
        let kind = match c.kind {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::ReferenceChanged => "embeds a changed type",
            ChangeKind::Removed => "removed",
        };
        if c.is_compatible() {
            out(&format!(
                "ok: {} ({kind}): {} at {}\n",
                c.file.display(),
                c.subject,
                c.level
            ));
        } else {
            incompatible += 1;
            for p in &c.problems {
                out(&format!(
                    "{}: {}: {}: {} ({kind}): {p}\n",
                    c.file.display(),
                    c.subject,
                    c.level,
                    c.full_name
                ));
            }
        }
    }
    if incompatible > 0 {
        out(&format!(
            "incompatible: {incompatible} of {} changed schema(s) break their subject's level since {against}\n",
            changes.len()
        ));
        Ok(Outcome::Drift)
    } else {
        out(&format!(
            "ok: {} changed schema(s) since {against}, all compatible\n",
            changes.len()
        ));
        Ok(Outcome::Ok)
    }
}

/// One subject `register` writes.
struct Planned {
    subject: String,
    level: String,
    full_name: String,
    file: PathBuf,
    schema: String,
}

/// Every subject in dependency order: topic value subjects with their spec's level, then under
/// its full name every schema no topic uses.
fn plan(source: &SourceArgs) -> anyhow::Result<Vec<Planned>> {
    let catalog = Catalog::load(&source.dir)?;
    let specs = SpecSet::load(&source.topics)?;
    let mut by_schema: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for t in &specs.topics {
        if catalog.get(&t.value_schema).is_none() {
            bail!(
                "{}: value_schema {} is not defined by any .avsc under {}",
                t.path.display(),
                t.value_schema,
                source.dir.display()
            );
        }
        by_schema
            .entry(t.value_schema.as_str())
            .or_default()
            .push((t.value_subject.as_str(), t.compatibility.as_str()));
    }
    let mut planned = Vec::new();
    for name in catalog.dependency_order() {
        let entry = catalog.entry(name)?;
        let schema = catalog.self_contained_json(name)?;
        let subjects = match by_schema.get(name.as_str()) {
            Some(subjects) => subjects.clone(),
            None => vec![(name.as_str(), "BACKWARD")],
        };
        for (subject, level) in subjects {
            planned.push(Planned {
                subject: subject.to_string(),
                level: level.to_string(),
                full_name: name.clone(),
                file: entry.path.clone(),
                schema: schema.clone(),
            });
        }
    }
    Ok(planned)
}

/// Registers every schema of `dir` at `url` as `weft schemas register` does, printing only the
/// summary line (and any incompatibility); for the demo.
pub(crate) async fn register_quietly(
    dir: &Path,
    topics: &Path,
    url: &str,
) -> anyhow::Result<Outcome> {
    let source = SourceArgs {
        dir: dir.to_path_buf(),
        topics: topics.to_path_buf(),
    };
    let registry = RegistryArgs {
        registry_url: url.to_string(),
        registry_username: None,
        registry_password: None,
    };
    run_register(&source, &registry, false, false).await
}

async fn run_register(
    source: &SourceArgs,
    registry: &RegistryArgs,
    dry_run: bool,
    each: bool,
) -> anyhow::Result<Outcome> {
    let out = |line: &str| {
        if each || line.contains("INCOMPATIBLE") {
            out(line)
        }
    };
    let planned = plan(source)?;
    let client = registry.client()?;
    let (mut registered, mut unchanged, mut incompatible) = (0usize, 0usize, 0usize);
    for p in &planned {
        let subject = &p.subject;
        let wanted = SubjectSchema {
            subject: subject.clone(),
            level: p.level.clone(),
            schema: p.schema.clone(),
            references: Vec::new(),
        };
        let context = || {
            format!(
                "subject {subject} ({} from {})",
                p.full_name,
                p.file.display()
            )
        };
        if dry_run {
            let (preview, level) = client.preview(&wanted).await.with_context(context)?;
            let level_note = match level {
                Some(l) if l == p.level => String::new(),
                Some(l) => format!(" (level {l} -> {})", p.level),
                None => format!(" (level unset -> {})", p.level),
            };
            match preview {
                Preview::Unchanged { id, version } => {
                    unchanged += 1;
                    out(&format!("{subject} {id} {version} unchanged{level_note}\n"));
                }
                Preview::New => {
                    registered += 1;
                    out(&format!("{subject} - - new{level_note}\n"));
                }
                Preview::Compatible { latest: (id, v) } => {
                    registered += 1;
                    out(&format!(
                        "{subject} {id} {v} changed, compatible{level_note}\n"
                    ));
                }
                Preview::Incompatible {
                    latest: (id, v),
                    messages,
                } => {
                    incompatible += 1;
                    out(&format!(
                        "{subject} {id} {v} changed, INCOMPATIBLE{level_note}: {} ({})\n",
                        messages.join("; "),
                        p.file.display()
                    ));
                }
            }
            continue;
        }
        match client.publish(&wanted).await.with_context(context)? {
            Published::Unchanged { id, version } => {
                unchanged += 1;
                out(&format!("{subject} {id} {version} unchanged\n"));
            }
            Published::Registered { id, version } => {
                registered += 1;
                out(&format!("{subject} {id} {version} registered\n"));
            }
            Published::MatchedOlder {
                id,
                version,
                latest,
            } => {
                registered += 1;
                out(&format!(
                    "{subject} {id} {} registered (an older version; the latest is {})\n",
                    version.map_or("?".to_string(), |v| v.to_string()),
                    latest.map_or("?".to_string(), |(i, v)| format!("version {v} id {i}"))
                ));
            }
            Published::Incompatible { message, details } => {
                incompatible += 1;
                let details: String = details.iter().map(|d| format!("\n  {d}")).collect();
                out(&format!(
                    "{subject}: INCOMPATIBLE at {}: {message} ({} from {}){details}\n",
                    p.level,
                    p.full_name,
                    p.file.display()
                ));
            }
        }
    }
    let verb = if dry_run {
        "would register"
    } else {
        "registered"
    };
    crate::out(&format!(
        "{} subjects at {}: {verb} {registered}, unchanged {unchanged}, incompatible {incompatible}\n",
        planned.len(),
        client.url()
    ));
    Ok(if incompatible > 0 {
        Outcome::Drift
    } else {
        Outcome::Ok
    })
}

async fn run_list(registry: &RegistryArgs) -> anyhow::Result<Outcome> {
    let client = registry.client()?;
    let subjects = client.subjects().await?;
    for subject in &subjects {
        match client.latest(subject).await? {
            Some(l) => out(&format!("{subject} {} {}\n", l.id, l.version)),
            None => out(&format!("{subject} - -\n")),
        }
    }
    Ok(Outcome::Ok)
}

/// The fields a change breaks, as dotted paths from the top-level record (`OrderPaid.payload.
/// channel`), for the levels' direction: BACKWARD (the new schema reads old data) flags fields the
/// new schema adds without a default, FORWARD (old readers read new data) fields it removes that
/// have no default; FULL both. Records are matched by name through unions, arrays and maps.
/// apache-avro's own verdict names only the short field name; this adds where it is.
fn field_problems(
    new: &apache_avro::Schema,
    old: &apache_avro::Schema,
    level: &str,
) -> Vec<String> {
    let (Ok(new), Ok(old)) = (serde_json::to_value(new), serde_json::to_value(old)) else {
        return Vec::new();
    };
    let backward = level.starts_with("BACKWARD") || level.starts_with("FULL");
    let forward = level.starts_with("FORWARD") || level.starts_with("FULL");
    let mut out = Vec::new();
    let root = new
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or("record")
        .to_string();
    if backward {
        missing_without_default(
            &new,
            &old,
            &root,
            "added without a default: the new schema cannot read data written before it",
            &mut out,
        );
    }
    if forward {
        missing_without_default(
            &old,
            &new,
            &root,
            "removed, and it has no default: readers on the old schema need it",
            &mut out,
        );
    }
    out
}

/// Named records inside a type (through unions, arrays and maps), by name.
fn records(ty: &Json) -> Vec<&Json> {
    match ty {
        Json::Array(branches) => branches.iter().flat_map(records).collect(),
        Json::Object(map) => match map.get("type").and_then(Json::as_str) {
            Some("record") => vec![ty],
            Some("array") => map.get("items").map(records).unwrap_or_default(),
            Some("map") => map.get("values").map(records).unwrap_or_default(),
            _ => map.get("type").map(records).unwrap_or_default(),
        },
        _ => Vec::new(),
    }
}

/// Fields of `reader` records that `writer` lacks and that have no default, at `path`.
fn missing_without_default(
    reader: &Json,
    writer: &Json,
    path: &str,
    why: &str,
    out: &mut Vec<String>,
) {
    let fields = |r: &Json| -> Vec<Json> {
        r.get("fields")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let writer_fields = fields(writer);
    for field in fields(reader) {
        let Some(name) = field.get("name").and_then(Json::as_str) else {
            continue;
        };
        let field_path = format!("{path}.{name}");
        match writer_fields
            .iter()
            .find(|w| w.get("name").and_then(Json::as_str) == Some(name))
        {
            None if field.get("default").is_none() => {
                out.push(format!("field {field_path}: {why}"));
            }
            None => {}
            Some(w) => {
                let (Some(rt), Some(wt)) = (field.get("type"), w.get("type")) else {
                    continue;
                };
                let writer_records = records(wt);
                for r in records(rt) {
                    let name = r.get("name");
                    if let Some(wr) = writer_records.iter().find(|w| w.get("name") == name) {
                        missing_without_default(r, wr, &field_path, why, out);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &str) -> apache_avro::Schema {
        apache_avro::Schema::parse_str(&format!(
            r#"{{"type":"record","name":"Paid","namespace":"shop","fields":[
                {{"name":"id","type":"string"}},
                {{"name":"payload","type":{{"type":"record","name":"PaidPayload","fields":[{fields}]}}}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn nested_fields_are_named_by_path() {
        let old = schema(r#"{"name":"at","type":"long"}"#);
        let new = schema(r#"{"name":"at","type":"long"},{"name":"channel","type":"string"}"#);
        let backward = field_problems(&new, &old, "BACKWARD");
        assert_eq!(backward.len(), 1, "{backward:?}");
        assert!(
            backward[0].starts_with("field Paid.payload.channel: added"),
            "{backward:?}"
        );
        assert!(field_problems(&new, &old, "FORWARD").is_empty());

        let removed = schema(r#"{"name":"note","type":["null","string"],"default":null}"#);
        let forward = field_problems(&removed, &old, "FORWARD_TRANSITIVE");
        assert_eq!(forward.len(), 1, "{forward:?}");
        assert!(
            forward[0].starts_with("field Paid.payload.at: removed"),
            "{forward:?}"
        );
        assert_eq!(field_problems(&removed, &old, "FULL").len(), 1);
        assert!(field_problems(&removed, &old, "NONE").is_empty());
    }
}
