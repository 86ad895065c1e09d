//! Topic migrations as declared in `topics/migrations/<name>.yaml` (docs/migration.md).
//!
//! A migration moves an event from one topic version to the next (`x.v1` -> `x.v2`): its
//! declaration names both topics and the consumer groups that read the old one; the transform
//! itself is a typed Rust function registered under the migration's name (`processors`). The
//! names every part of a migration uses are derived here, so the CLI, the runtime and
//! provisioning agree on them:
//!
//! - the mirror (backfill) is a consumer group of its own, `<name>.mirror`, with a dead-letter
//!   topic `<name>.mirror.dlq` for v1 records the transform refuses (never silently dropped);
//! - the state of every migration is one compacted topic, [`CONTROL_TOPIC`], keyed by name.
//!
//! Validation ([`MigrationSpec::check`]): both topics are specified, different, with the same key
//! field and the same partition count (so partition `p` holds the same keys in both, which the
//! exact offset map relies on).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::CoreError;
use crate::spec::SpecSet;

/// The compacted topic holding every migration's state (key: the migration's name).
pub const CONTROL_TOPIC: &str = "_weft_migrations";

/// The mirror's consumer group of migration `name`: `<name>.mirror`.
pub fn mirror_group(name: &str) -> String {
    format!("{name}.mirror")
}

/// One declared migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSpec {
    /// The migration's name (the file's stem), also the name its transform is registered under.
    pub name: String,
    /// The topic migrated from.
    pub from: String,
    /// The topic migrated to.
    pub to: String,
    /// The consumer groups reading `from` that move to `to`.
    pub groups: Vec<String>,
    /// The file it came from.
    pub path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMigration {
    name: String,
    from: String,
    to: String,
    #[serde(default)]
    groups: Vec<String>,
}

impl MigrationSpec {
    /// Parses one declaration; the name must match the file's stem.
    pub fn parse(path: &Path, text: &str) -> Result<Self, CoreError> {
        let invalid = |field: &str, problem: String| CoreError::InvalidSpec {
            path: path.to_path_buf(),
            field: field.into(),
            problem,
        };
        let raw: RawMigration =
            serde_yaml_ng::from_str(text).map_err(|e| invalid("(document)", e.to_string()))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if raw.name != stem {
            return Err(invalid(
                "name",
                format!("`{}` does not match the file name `{stem}.yaml`", raw.name),
            ));
        }
        if raw.from == raw.to {
            return Err(invalid("to", "a topic cannot migrate to itself".into()));
        }
        Ok(MigrationSpec {
            name: raw.name,
            from: raw.from,
            to: raw.to,
            groups: raw.groups,
            path: path.to_path_buf(),
        })
    }

    /// The mirror's consumer group (and producer name).
    pub fn mirror_group(&self) -> String {
        mirror_group(&self.name)
    }

    /// Checks the declaration against the topic specs: both topics exist, same key field, same
    /// partition count.
    pub fn check(&self, specs: &SpecSet) -> Result<(), CoreError> {
        let invalid = |field: &str, problem: String| CoreError::InvalidSpec {
            path: self.path.clone(),
            field: field.into(),
            problem,
        };
        let from = specs
            .topic(&self.from)
            .ok_or_else(|| invalid("from", format!("no topic spec named {}", self.from)))?;
        let to = specs
            .topic(&self.to)
            .ok_or_else(|| invalid("to", format!("no topic spec named {}", self.to)))?;
        if from.key != to.key {
            return Err(invalid(
                "to",
                format!(
                    "{} is keyed by `{}` but {} by `{}`: a migration keeps the key",
                    self.from, from.key, self.to, to.key
                ),
            ));
        }
        if from.partitions != to.partitions {
            return Err(invalid(
                "to",
                format!(
                    "{} has {} partitions but {} has {}: partition p must hold the same keys in both",
                    self.from, from.partitions, self.to, to.partitions
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, key: &str, partitions: i32) -> String {
        format!(
            "name: {name}\nevent_type: X\npartitions: {partitions}\nreplication_factor: 1\n\
             cleanup_policy: delete\nretention: 7d\nkey: {key}\nvalue_subject: {name}-value\n\
             value_schema: a.X\nowner: o\npriority: normal\n"
        )
    }

    fn dir(v2_key: &str, v2_partitions: i32) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("migrations")).unwrap();
        std::fs::write(dir.path().join("a.b.c.v1.yaml"), spec("a.b.c.v1", "id", 3)).unwrap();
        std::fs::write(
            dir.path().join("a.b.c.v2.yaml"),
            spec("a.b.c.v2", v2_key, v2_partitions),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("migrations/a.b.c.yaml"),
            "name: a.b.c\nfrom: a.b.c.v1\nto: a.b.c.v2\ngroups: [a.reader]\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_declaration_is_loaded_with_the_specs_and_checked() {
        let d = dir("id", 3);
        let set = SpecSet::load(d.path()).unwrap();
        assert_eq!(set.topics.len(), 2, "a declaration is not a topic spec");
        let m = set.migration("a.b.c").unwrap();
        assert_eq!(m.mirror_group(), "a.b.c.mirror");
        assert_eq!(m.groups, vec!["a.reader".to_string()]);
        m.check(&set).unwrap();
    }

    #[test]
    fn another_key_or_partition_count_is_refused_naming_both_topics() {
        let d = dir("other", 3);
        let set = SpecSet::load(d.path()).unwrap();
        let e = set.migration("a.b.c").unwrap().check(&set).unwrap_err();
        assert!(
            e.to_string()
                .contains("keyed by `id` but a.b.c.v2 by `other`"),
            "{e}"
        );
        let d = dir("id", 6);
        let set = SpecSet::load(d.path()).unwrap();
        let e = set.migration("a.b.c").unwrap().check(&set).unwrap_err();
        assert!(
            e.to_string()
                .contains("has 3 partitions but a.b.c.v2 has 6"),
            "{e}"
        );
    }

    #[test]
    fn a_name_that_is_not_the_file_name_is_refused() {
        let e = MigrationSpec::parse(
            Path::new("topics/migrations/x.yaml"),
            "name: y\nfrom: a.b.c.v1\nto: a.b.c.v2\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("does not match the file name"),
            "{e}"
        );
    }
}
