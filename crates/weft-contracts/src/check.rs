//! `weft schemas check --against <ref>`: is every schema changed since a git ref compatible with
//! what the ref had, under its subject's compatibility level?
//!
//! How it works:
//! 1. `git diff --name-status --no-renames <ref> -- avro/` plus untracked `.avsc` files list what
//!    changed between the ref and the working tree;
//! 2. the working tree's `avro/` is loaded as a [`Catalog`]; the ref's `avro/` is extracted with
//!    `git ls-tree` / `git show <ref>:<path>` into a temporary directory and loaded the same way;
//! 3. each modified schema, and every schema that references a modified one (a change to
//!    `weft.common.EventMetadata` changes every event), is compared in its self-contained form
//!    with the injected checker, at the level of the topic spec whose `value_schema` it is
//!    (`compatibility`, default `BACKWARD`); schemas no topic uses (shared types) use `BACKWARD`;
//! 4. added schemas need no check; a removed schema is a problem unless its level is `NONE`.
//!
//! The compatibility rules are injected as `compat(new, old, level) -> problems` so that the CLI
//! can plug in `weft_registry::compat`; [`avro_can_read`] is a stand-in built on
//! `apache_avro::schema_compatibility` (reader/writer resolution only, no transitive history).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;

use crate::catalog::Catalog;
use crate::error::{ContractsError, Result};
use crate::inventory::load_topic_specs;

/// How a schema changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// New since the ref.
    Added,
    /// Its file changed.
    Modified,
    /// Its file is unchanged but a schema it references changed.
    ReferenceChanged,
    /// Gone since the ref.
    Removed,
}

/// One changed schema and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaChange {
    /// The `.avsc`, relative to the repository root.
    pub file: PathBuf,
    /// Full Avro name of its top-level type.
    pub full_name: String,
    /// How it changed.
    pub kind: ChangeKind,
    /// The registry subject: the topic's `value_subject`, or the full name for shared types.
    pub subject: String,
    /// The compatibility level it was checked at.
    pub level: String,
    /// Why it is incompatible; empty when it is compatible.
    pub problems: Vec<String>,
}

impl SchemaChange {
    /// Compatible under its level?
    pub fn is_compatible(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A compatibility checker: `(new, old, level) -> problems`, empty when compatible.
pub type CompatFn<'a> = &'a dyn Fn(&Schema, &Schema, &str) -> Vec<String>;

/// Compare the working tree's schemas under `repo_root/avro` with those at `git_ref`.
///
/// `repo_root` is the top level of the git work tree (git reports paths relative to it); topic
/// specs are read from `repo_root/topics`.
pub fn check_against_git_ref(
    repo_root: &Path,
    git_ref: &str,
    compat: CompatFn<'_>,
) -> Result<Vec<SchemaChange>> {
    let avro_dir = repo_root.join("avro");
    let changed = changed_files(repo_root, git_ref)?;
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let new = Catalog::load(&avro_dir)?;
    let old_dir = tempdir_for_ref(repo_root, git_ref)?;
    let old = if old_dir.path.join("avro").is_dir() {
        Some(Catalog::load(old_dir.path.join("avro"))?)
    } else {
        None
    };
    let levels = subject_levels(repo_root)?;

    let by_path = |catalog: &Catalog, rel: &Path| -> Option<String> {
        catalog
            .entries()
            .find(|e| Path::new("avro").join(&e.relative_path) == rel)
            .map(|e| e.full_name.clone())
    };

    let mut out = Vec::new();
    let mut modified_names = BTreeSet::new();
    for (status, rel) in &changed {
        let (name, kind) = match status {
            'A' => match by_path(&new, rel) {
                Some(n) => (n, ChangeKind::Added),
                None => continue,
            },
            'D' => match old.as_ref().and_then(|o| by_path(o, rel)) {
                Some(n) => (n, ChangeKind::Removed),
                None => continue,
            },
            _ => {
                let name = by_path(&new, rel);
                let existed = old
                    .as_ref()
                    .and_then(|o| name.as_ref().and_then(|n| o.get(n)))
                    .is_some();
                match (name, existed) {
                    (Some(n), true) => (n, ChangeKind::Modified),
                    (Some(n), false) => (n, ChangeKind::Added),
                    (None, _) => continue,
                }
            }
        };
        if kind == ChangeKind::Modified {
            modified_names.insert(name.clone());
        }
        out.push(change(
            &new,
            old.as_ref(),
            &levels,
            rel.clone(),
            name,
            kind,
            compat,
        )?);
    }

    // Schemas whose files did not change but which reference a modified schema.
    let listed: BTreeSet<String> = out.iter().map(|c| c.full_name.clone()).collect();
    for entry in new.entries() {
        if listed.contains(&entry.full_name) {
            continue;
        }
        let deps = new.dependencies(&entry.full_name)?;
        if deps.iter().any(|d| modified_names.contains(d))
            && old
                .as_ref()
                .is_some_and(|o| o.get(&entry.full_name).is_some())
        {
            let rel = Path::new("avro").join(&entry.relative_path);
            out.push(change(
                &new,
                old.as_ref(),
                &levels,
                rel,
                entry.full_name.clone(),
                ChangeKind::ReferenceChanged,
                compat,
            )?);
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

fn change(
    new: &Catalog,
    old: Option<&Catalog>,
    levels: &BTreeMap<String, (String, String)>,
    file: PathBuf,
    full_name: String,
    kind: ChangeKind,
    compat: CompatFn<'_>,
) -> Result<SchemaChange> {
    let (subject, level) = levels
        .get(&full_name)
        .cloned()
        .unwrap_or_else(|| (full_name.clone(), "BACKWARD".to_string()));
    let problems = match (kind, old) {
        (ChangeKind::Modified | ChangeKind::ReferenceChanged, Some(old)) => {
            let new_schema = new.self_contained(&full_name)?;
            let old_schema = old.self_contained(&full_name)?;
            compat(&new_schema, &old_schema, &level)
        }
        (ChangeKind::Removed, _) if level != "NONE" => vec![format!(
            "{full_name} was removed; subject {subject} is at {level} and its consumers lose their schema"
        )],
        _ => Vec::new(),
    };
    Ok(SchemaChange {
        file,
        full_name,
        kind,
        subject,
        level,
        problems,
    })
}

/// `value_schema` -> (`value_subject`, `compatibility`) from every topic spec under `topics/`.
fn subject_levels(repo_root: &Path) -> Result<BTreeMap<String, (String, String)>> {
    let topics = repo_root.join("topics");
    if !topics.is_dir() {
        return Ok(BTreeMap::new());
    }
    Ok(load_topic_specs(&topics)?
        .into_iter()
        .map(|t| (t.value_schema, (t.value_subject, t.compatibility)))
        .collect())
}

fn git(repo_root: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo_root)
        .args(args)
        .output()
        .map_err(|e| ContractsError::Git {
            args: args.join(" "),
            message: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(ContractsError::Git {
            args: args.join(" "),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output.stdout)
}

/// `(status, path)` of every `.avsc` under `avro/` that differs between `git_ref` and the working
/// tree; status is `A`, `M` or `D`.
fn changed_files(repo_root: &Path, git_ref: &str) -> Result<Vec<(char, PathBuf)>> {
    let diff = git(
        repo_root,
        &[
            "diff",
            "--name-status",
            "--no-renames",
            git_ref,
            "--",
            "avro/",
        ],
    )?;
    let mut out = Vec::new();
    for line in String::from_utf8_lossy(&diff).lines() {
        let mut parts = line.splitn(2, '\t');
        let status = parts.next().and_then(|s| s.chars().next()).unwrap_or('M');
        if let Some(path) = parts.next() {
            if path.ends_with(".avsc") {
                out.push((status, PathBuf::from(path)));
            }
        }
    }
    let untracked = git(
        repo_root,
        &["ls-files", "--others", "--exclude-standard", "--", "avro/"],
    )?;
    for path in String::from_utf8_lossy(&untracked).lines() {
        if path.ends_with(".avsc") {
            out.push(('A', PathBuf::from(path)));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.dedup_by(|a, b| a.1 == b.1);
    Ok(out)
}

/// A temporary directory removed on drop.
struct TempTree {
    path: PathBuf,
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The `.avsc` files of `avro/` at `git_ref`, written under a fresh temporary directory.
fn tempdir_for_ref(repo_root: &Path, git_ref: &str) -> Result<TempTree> {
    let path = std::env::temp_dir().join(format!("weft-schemas-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&path).map_err(|e| ContractsError::io(&path, e))?;
    let tree = TempTree { path };
    let listing = git(
        repo_root,
        &["ls-tree", "-r", "--name-only", git_ref, "--", "avro/"],
    )?;
    for rel in String::from_utf8_lossy(&listing).lines() {
        if !rel.ends_with(".avsc") {
            continue;
        }
        let text = git(repo_root, &["show", &format!("{git_ref}:{rel}")])?;
        let target = tree.path.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ContractsError::io(parent, e))?;
        }
        std::fs::write(&target, text).map_err(|e| ContractsError::io(&target, e))?;
    }
    Ok(tree)
}

/// A stand-in checker on apache-avro's reader/writer resolution:
/// `BACKWARD` = the new schema reads data written with the old one, `FORWARD` = the old reads the
/// new, `FULL` = both; `*_TRANSITIVE` behave like their plain level here (only one old version is
/// known); `NONE` accepts everything.
pub fn avro_can_read(new: &Schema, old: &Schema, level: &str) -> Vec<String> {
    let backward = || match SchemaCompatibility::can_read(old, new) {
        Ok(_) => Vec::new(),
        Err(e) => vec![format!(
            "the new schema cannot read data written with the old one: {e}"
        )],
    };
    let forward = || match SchemaCompatibility::can_read(new, old) {
        Ok(_) => Vec::new(),
        Err(e) => vec![format!(
            "the old schema cannot read data written with the new one: {e}"
        )],
    };
    match level {
        "NONE" => Vec::new(),
        "BACKWARD" | "BACKWARD_TRANSITIVE" => backward(),
        "FORWARD" | "FORWARD_TRANSITIVE" => forward(),
        "FULL" | "FULL_TRANSITIVE" => {
            let mut problems = backward();
            problems.extend(forward());
            problems
        }
        other => vec![format!("unknown compatibility level {other}")],
    }
}
