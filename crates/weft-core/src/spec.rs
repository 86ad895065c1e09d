//! Topic specs and group specs: `topics/` declares every topic and every consumer group's policy.
//!
//! A topic spec is one YAML file per topic, named after the topic; group specs live in
//! `topics/groups/`. Loading is strict: unknown fields, bad values and a name that does not match
//! the file are errors naming the file, the field and the problem, so a typo never silently
//! becomes a default. The format is in `docs/design.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::migration::{MigrationSpec, CONTROL_TOPIC};
use crate::naming;
use crate::CoreError;

/// Retention of dead-letter topics when a group spec does not say otherwise.
pub const DEFAULT_DEAD_LETTER_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// Retry delays when a group spec does not say otherwise (seed 000: 10 s, 60 s, 300 s).
pub fn default_retry_delays() -> Vec<Duration> {
    vec![
        Duration::from_secs(10),
        Duration::from_secs(60),
        Duration::from_secs(300),
    ]
}

/// What happens to old records of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CleanupPolicy {
    #[serde(rename = "delete")]
    Delete,
    #[serde(rename = "compact")]
    Compact,
    #[serde(rename = "compact,delete", alias = "delete,compact")]
    CompactDelete,
}

impl CleanupPolicy {
    /// The value of the `cleanup.policy` topic config.
    pub fn as_config(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }
}

/// Priority of a topic's events, from the seeds' priority levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
    Critical,
}

impl Priority {
    /// As the spec spells it: `low`, `normal`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }
}

/// How long records are kept: a duration or forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Infinite,
    For(Duration),
}

impl Retention {
    /// The value of the `retention.ms` topic config.
    pub fn as_config(self) -> String {
        match self {
            Retention::Infinite => "-1".into(),
            Retention::For(d) => d.as_millis().to_string(),
        }
    }
}

/// One topic, as declared in `topics/<system>/<name>.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub event_type: String,
    /// The envelope's `event_version` of this topic's events (`event_version:`); none: the
    /// system's convention (`weft_contracts::<system>::EVENT_VERSION`).
    pub event_version: Option<String>,
    pub partitions: i32,
    pub replication_factor: i32,
    pub min_insync_replicas: Option<i32>,
    pub cleanup_policy: CleanupPolicy,
    pub retention: Retention,
    /// The payload field whose value is the Kafka key (the entity id).
    pub key: String,
    pub value_subject: String,
    /// Full Avro name of the value record in `avro/`.
    pub value_schema: String,
    pub owner: String,
    pub consumers: Vec<String>,
    pub priority: Priority,
    pub sla: Option<Duration>,
    /// Registry compatibility level of the value subject (BACKWARD unless said otherwise).
    pub compatibility: String,
    /// Extra topic configs, passed as-is.
    pub config: BTreeMap<String, String>,
    /// Which seed document the event comes from (`seed:`); none for weft's own topics.
    pub seed: Option<SeedOrigin>,
    /// The file the spec came from (empty for derived topics).
    pub path: PathBuf,
}

/// Where a seed system's event is written down (`seed: {file, derived}` in its topic spec); the
/// seed-event inventory (`docs/event-inventory.md`) is built from these.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOrigin {
    /// The seed document, a file name in `shared/seeds/`.
    pub file: String,
    /// True when the seed names the event but does not spell out its payload (the fields were
    /// designed from the seed's context; the schema's `doc` says how).
    pub derived: bool,
}

/// The retry policy of one consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// One retry tier per delay, in order; after the last tier a record is dead-lettered.
    pub delays: Vec<Duration>,
}

/// Whether a group keeps the order of each key's records across retries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ordering {
    /// A retried record may be overtaken by later records of its key (the default: a slow key
    /// holds nothing).
    #[default]
    Unordered,
    /// While a key has a record in a retry tier, its later records are parked behind it and
    /// released in order (`ordering: per_key`).
    PerKey,
}

/// A consumer group's policy, from `topics/groups/<group>.yaml` or the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub group: String,
    pub retry: RetryPolicy,
    pub ordering: Ordering,
    pub dead_letter_retention: Duration,
    /// Keyed stores of the group's processor (`stores: [name, ...]`): each has a compacted
    /// changelog topic (see [`GroupSpec::changelog_topics`]). The processor's registration must
    /// declare the same stores (the compliance test and `weft run` check it).
    pub stores: Vec<String>,
    /// Whether the group re-keys some inputs through its repartition topic
    /// (`repartition: true`; see [`GroupSpec::repartition_topic`]).
    pub repartition: bool,
    pub path: Option<PathBuf>,
}

impl GroupSpec {
    /// The defaults: retries after 10 s, 60 s and 300 s, dead letters kept 14 days.
    pub fn default_for(group: &str) -> Self {
        GroupSpec {
            group: group.to_string(),
            retry: RetryPolicy {
                delays: default_retry_delays(),
            },
            ordering: Ordering::Unordered,
            dead_letter_retention: DEFAULT_DEAD_LETTER_RETENTION,
            stores: Vec::new(),
            repartition: false,
            path: None,
        }
    }

    /// The group's retry topics, one per tier, in order.
    pub fn retry_topics(&self) -> Vec<String> {
        self.retry
            .delays
            .iter()
            .map(|d| naming::retry_topic(&self.group, *d))
            .collect()
    }

    /// The group's dead-letter topic.
    pub fn dead_letter_topic(&self) -> String {
        naming::dead_letter_topic(&self.group)
    }

    /// The group's parking topic, when it keeps per-key order.
    pub fn parking_topic(&self) -> Option<String> {
        (self.ordering == Ordering::PerKey).then(|| naming::parking_topic(&self.group))
    }

    /// The group's repartition topic, when it re-keys inputs.
    pub fn repartition_topic(&self) -> Option<String> {
        self.repartition
            .then(|| naming::repartition_topic(&self.group))
    }

    /// The changelog topic of each of the group's keyed stores, in declaration order.
    pub fn changelog_topics(&self) -> Vec<String> {
        self.stores
            .iter()
            .map(|s| naming::changelog_topic(&self.group, s))
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    name: String,
    event_type: String,
    #[serde(default)]
    event_version: Option<String>,
    partitions: i32,
    replication_factor: i32,
    #[serde(default)]
    min_insync_replicas: Option<i32>,
    cleanup_policy: CleanupPolicy,
    retention: String,
    key: String,
    value_subject: String,
    value_schema: String,
    owner: String,
    #[serde(default)]
    consumers: Vec<String>,
    priority: Priority,
    #[serde(default)]
    sla: Option<String>,
    #[serde(default)]
    compatibility: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    seed: Option<SeedOrigin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    group: String,
    #[serde(default)]
    retry: Option<RawRetry>,
    #[serde(default)]
    dead_letter: Option<RawDeadLetter>,
    #[serde(default)]
    ordering: Option<String>,
    #[serde(default)]
    stores: Vec<String>,
    #[serde(default)]
    repartition: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    delays: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadLetter {
    retention: String,
}

/// Compatibility levels a value subject may declare.
pub const COMPATIBILITY_LEVELS: &[&str] = &[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
];

fn invalid(path: &Path, field: &str, problem: impl Into<String>) -> CoreError {
    CoreError::InvalidSpec {
        path: path.to_path_buf(),
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// Turns a serde error into one that names the field: serde puts the field in backticks.
fn from_serde(path: &Path, err: serde_yaml_ng::Error) -> CoreError {
    let msg = err.to_string();
    let field = msg
        .split('`')
        .nth(1)
        .filter(|_| msg.contains("field"))
        .unwrap_or("(document)")
        .to_string();
    invalid(path, &field, msg)
}

fn parse_duration(path: &Path, field: &str, raw: &str) -> Result<Duration, CoreError> {
    humantime::parse_duration(raw.trim()).map_err(|e| {
        invalid(
            path,
            field,
            format!("`{raw}` is not a duration like 500ms, 10s, 7d: {e}"),
        )
    })
}

fn yaml_scalar(path: &Path, field: &str, v: &serde_yaml_ng::Value) -> Result<String, CoreError> {
    match v {
        serde_yaml_ng::Value::String(s) => Ok(s.clone()),
        serde_yaml_ng::Value::Number(n) => Ok(n.to_string()),
        serde_yaml_ng::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(invalid(path, field, "must be a string, number or boolean")),
    }
}

/// True for names of the form `<system>.<domain>.<action>.v<major>`.
pub fn is_valid_topic_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    let word = |s: &str| {
        !s.is_empty()
            && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    parts.len() >= 4
        && parts[..parts.len() - 1].iter().all(|p| word(p))
        && parts[parts.len() - 1]
            .strip_prefix('v')
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

impl TopicSpec {
    /// Parses and validates one topic spec; `path` is used for errors and the name check.
    pub fn parse(path: &Path, text: &str) -> Result<Self, CoreError> {
        let raw: RawTopic = serde_yaml_ng::from_str(text).map_err(|e| from_serde(path, e))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if raw.name != stem {
            return Err(invalid(
                path,
                "name",
                format!("`{}` does not match the file name `{stem}.yaml`", raw.name),
            ));
        }
        if !is_valid_topic_name(&raw.name) {
            return Err(invalid(
                path,
                "name",
                format!(
                    "`{}` is not of the form <system>.<domain>.<action>.v<major>",
                    raw.name
                ),
            ));
        }
        if raw.partitions < 1 {
            return Err(invalid(path, "partitions", "must be at least 1"));
        }
        if raw.replication_factor < 1 {
            return Err(invalid(path, "replication_factor", "must be at least 1"));
        }
        if let Some(m) = raw.min_insync_replicas {
            if m < 1 || m > raw.replication_factor {
                return Err(invalid(
                    path,
                    "min_insync_replicas",
                    format!(
                        "{m} must be between 1 and the replication factor {}",
                        raw.replication_factor
                    ),
                ));
            }
        }
        let retention = match raw.retention.trim() {
            "infinite" | "forever" | "-1" => Retention::Infinite,
            other => Retention::For(parse_duration(path, "retention", other)?),
        };
        let sla = raw
            .sla
            .as_deref()
            .map(|s| parse_duration(path, "sla", s))
            .transpose()?;
        let compatibility = raw.compatibility.unwrap_or_else(|| "BACKWARD".to_string());
        if !COMPATIBILITY_LEVELS.contains(&compatibility.as_str()) {
            return Err(invalid(
                path,
                "compatibility",
                format!(
                    "`{compatibility}` is not one of {}",
                    COMPATIBILITY_LEVELS.join(", ")
                ),
            ));
        }
        for (field, value) in [
            ("key", &raw.key),
            ("event_type", &raw.event_type),
            ("value_subject", &raw.value_subject),
            ("value_schema", &raw.value_schema),
            ("owner", &raw.owner),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(path, field, "must not be empty"));
            }
        }
        let mut config = BTreeMap::new();
        for (k, v) in &raw.config {
            let key = k.clone();
            let value = yaml_scalar(path, &format!("config.{key}"), v)?;
            if matches!(
                key.as_str(),
                "cleanup.policy" | "retention.ms" | "min.insync.replicas"
            ) {
                return Err(invalid(
                    path,
                    &format!("config.{key}"),
                    "is set by a dedicated field of the spec; set it there",
                ));
            }
            config.insert(key, value);
        }
        Ok(TopicSpec {
            name: raw.name,
            event_type: raw.event_type,
            event_version: raw.event_version,
            partitions: raw.partitions,
            replication_factor: raw.replication_factor,
            min_insync_replicas: raw.min_insync_replicas,
            cleanup_policy: raw.cleanup_policy,
            retention,
            key: raw.key,
            value_subject: raw.value_subject,
            value_schema: raw.value_schema,
            owner: raw.owner,
            consumers: raw.consumers,
            priority: raw.priority,
            sla,
            compatibility,
            config,
            seed: raw.seed,
            path: path.to_path_buf(),
        })
    }

    /// The topic configs this spec asks for (the keys weft manages).
    pub fn topic_configs(&self) -> BTreeMap<String, String> {
        let mut out = self.config.clone();
        out.insert(
            "cleanup.policy".into(),
            self.cleanup_policy.as_config().into(),
        );
        out.insert("retention.ms".into(), self.retention.as_config());
        if let Some(m) = self.min_insync_replicas {
            out.insert("min.insync.replicas".into(), m.to_string());
        }
        out
    }
}

impl GroupSpec {
    /// Parses and validates one group spec.
    pub fn parse(path: &Path, text: &str) -> Result<Self, CoreError> {
        let raw: RawGroup = serde_yaml_ng::from_str(text).map_err(|e| from_serde(path, e))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if raw.group != stem {
            return Err(invalid(
                path,
                "group",
                format!("`{}` does not match the file name `{stem}.yaml`", raw.group),
            ));
        }
        let mut spec = GroupSpec::default_for(&raw.group);
        spec.path = Some(path.to_path_buf());
        if let Some(retry) = raw.retry {
            spec.retry.delays = retry
                .delays
                .iter()
                .map(|d| parse_duration(path, "retry.delays", d))
                .collect::<Result<_, _>>()?;
            let unique: BTreeSet<_> = spec.retry.delays.iter().collect();
            if unique.len() != spec.retry.delays.len() {
                return Err(invalid(
                    path,
                    "retry.delays",
                    "two tiers with the same delay would share one topic",
                ));
            }
        }
        spec.ordering = match raw.ordering.as_deref() {
            None | Some("none") => Ordering::Unordered,
            Some("per_key") => Ordering::PerKey,
            Some(other) => {
                return Err(invalid(
                    path,
                    "ordering",
                    format!("`{other}` is not `none` or `per_key`"),
                ))
            }
        };
        if let Some(dl) = raw.dead_letter {
            spec.dead_letter_retention =
                parse_duration(path, "dead_letter.retention", &dl.retention)?;
        }
        for store in &raw.stores {
            let good = !store.is_empty()
                && store
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !good {
                return Err(invalid(
                    path,
                    "stores",
                    format!("`{store}` is not a store name (lowercase letters, digits, - and _)"),
                ));
            }
        }
        let unique: BTreeSet<_> = raw.stores.iter().collect();
        if unique.len() != raw.stores.len() {
            return Err(invalid(path, "stores", "a store is declared twice"));
        }
        spec.stores = raw.stores;
        spec.repartition = raw.repartition;
        Ok(spec)
    }
}

/// Every topic and group spec under one `topics/` directory.
#[derive(Debug, Clone, Default)]
pub struct SpecSet {
    pub topics: Vec<TopicSpec>,
    groups: BTreeMap<String, GroupSpec>,
    migrations: Vec<MigrationSpec>,
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CoreError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CoreError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let path = entry
            .map_err(|source| CoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

impl SpecSet {
    /// Loads every spec below `dir`: `groups/*.yaml` are group specs, `migrations/*.yaml`
    /// migration declarations ([`MigrationSpec`]), other `*.yaml` files are topic specs, except
    /// files whose name starts with `_` (catalog data such as an inventory).
    pub fn load(dir: &Path) -> Result<Self, CoreError> {
        let mut files = Vec::new();
        yaml_files(dir, &mut files)?;
        files.sort();
        let mut set = SpecSet::default();
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for path in files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with('_') || name.starts_with("inventory") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|source| CoreError::Io {
                path: path.clone(),
                source,
            })?;
            let folder = path.parent().and_then(|p| p.file_name());
            let is_group = folder.is_some_and(|p| p == "groups");
            let key = if folder.is_some_and(|p| p == "migrations") {
                let m = MigrationSpec::parse(&path, &text)?;
                let key = format!("migration {}", m.name);
                set.migrations.push(m);
                key
            } else if is_group {
                let g = GroupSpec::parse(&path, &text)?;
                let key = format!("group {}", g.group);
                set.groups.insert(g.group.clone(), g);
                key
            } else {
                let t = TopicSpec::parse(&path, &text)?;
                let key = format!("topic {}", t.name);
                set.topics.push(t);
                key
            };
            if let Some(first) = seen.insert(key.clone(), path.clone()) {
                return Err(CoreError::Duplicate {
                    name: key,
                    first,
                    second: path,
                });
            }
        }
        Ok(set)
    }

    /// The topic spec named `name`.
    pub fn topic(&self, name: &str) -> Option<&TopicSpec> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// The policy of `group`: its spec file, or the defaults. A migration's mirror group has
    /// no retry tier (its transform is pure: what it refuses, it always refuses).
    pub fn group(&self, group: &str) -> GroupSpec {
        if let Some(spec) = self.groups.get(group) {
            return spec.clone();
        }
        let mut spec = GroupSpec::default_for(group);
        if self.migrations.iter().any(|m| m.mirror_group() == group) {
            spec.retry.delays.clear();
        }
        spec
    }

    /// Every consumer group named by a topic spec, a group spec or a migration (its mirror),
    /// sorted.
    pub fn groups(&self) -> Vec<GroupSpec> {
        let mut names: BTreeSet<String> = self.groups.keys().cloned().collect();
        for t in &self.topics {
            names.extend(t.consumers.iter().cloned());
        }
        names.extend(self.migrations.iter().map(MigrationSpec::mirror_group));
        names.iter().map(|g| self.group(g)).collect()
    }

    /// Every declared migration, by file.
    pub fn migrations(&self) -> &[MigrationSpec] {
        &self.migrations
    }

    /// The migration named `name`.
    pub fn migration(&self, name: &str) -> Option<&MigrationSpec> {
        self.migrations.iter().find(|m| m.name == name)
    }

    /// The topics `group` consumes: those naming it as a consumer, and a mirror's source.
    fn inputs_of(&self, group: &str) -> Vec<&TopicSpec> {
        self.topics
            .iter()
            .filter(|t| {
                t.consumers.iter().any(|c| c == group)
                    || self
                        .migrations
                        .iter()
                        .any(|m| m.mirror_group() == group && m.from == t.name)
            })
            .collect()
    }

    /// The retry and dead-letter topics every group needs, as topic specs.
    ///
    /// A derived topic has as many partitions as the largest input topic of its group, so a
    /// retried record can keep its key's partition; retry tiers keep records 7 days (they are
    /// drained within their delay), dead letters for the group's dead-letter retention.
    pub fn derived_topics(&self) -> Vec<TopicSpec> {
        let mut out = Vec::new();
        for group in self.groups() {
            let inputs = self.inputs_of(&group.group);
            let partitions = inputs.iter().map(|t| t.partitions).max().unwrap_or(3);
            let replication_factor = inputs
                .iter()
                .map(|t| t.replication_factor)
                .max()
                .unwrap_or(3);
            let min_insync_replicas = inputs.iter().filter_map(|t| t.min_insync_replicas).max();
            let priority = inputs
                .iter()
                .map(|t| t.priority)
                .max()
                .unwrap_or(Priority::Normal);
            let make = |name: String, retention: Duration, action: &str| TopicSpec {
                value_subject: format!("{name}-value"),
                name,
                event_type: format!("weft.{action}"),
                event_version: None,
                partitions,
                replication_factor,
                min_insync_replicas,
                cleanup_policy: CleanupPolicy::Delete,
                retention: Retention::For(retention),
                key: "(source key)".into(),
                value_schema: "(source bytes)".into(),
                owner: group.group.clone(),
                consumers: vec![group.group.clone()],
                priority,
                sla: None,
                compatibility: "NONE".into(),
                config: BTreeMap::new(),
                seed: None,
                path: PathBuf::new(),
            };
            for topic in group.retry_topics() {
                out.push(make(topic, Duration::from_secs(7 * 24 * 3600), "retry"));
            }
            out.push(make(
                group.dead_letter_topic(),
                group.dead_letter_retention,
                "dead-letter",
            ));
            if let Some(parking) = group.parking_topic() {
                let mut spec = make(parking, Duration::ZERO, "parking");
                spec.cleanup_policy = CleanupPolicy::Compact;
                spec.retention = Retention::Infinite;
                out.push(spec);
            }
            // Re-keyed inputs go through the repartition topic, drained like an input.
            if let Some(topic) = group.repartition_topic() {
                let mut spec = make(topic, Duration::from_secs(7 * 24 * 3600), "repartition");
                spec.key = "(the group's state key)".into();
                out.push(spec);
            }
            // Keyed stores: partition p is the state of input partition p, kept for ever (the
            // latest value per key; compaction drops the rest).
            for changelog in group.changelog_topics() {
                let mut spec = make(changelog, Duration::ZERO, "changelog");
                spec.cleanup_policy = CleanupPolicy::Compact;
                spec.retention = Retention::Infinite;
                spec.key = "(store key)".into();
                spec.value_schema = "(the store's Avro value)".into();
                out.push(spec);
            }
        }
        // The migrations' control topic, as durable as the topics migrated.
        if let Some(template) = self.migrations.iter().find_map(|m| self.topic(&m.from)) {
            let mut control = template.clone();
            control.name = CONTROL_TOPIC.to_string();
            control.value_subject = format!("{CONTROL_TOPIC}-value");
            control.event_type = "weft.migration-state".into();
            control.event_version = None;
            control.partitions = 1;
            control.cleanup_policy = CleanupPolicy::Compact;
            control.retention = Retention::Infinite;
            control.key = "(migration name)".into();
            control.value_schema = "(JSON state)".into();
            control.owner = "weft".into();
            control.consumers = Vec::new();
            control.sla = None;
            control.compatibility = "NONE".into();
            control.config = BTreeMap::new();
            control.seed = None;
            control.path = PathBuf::new();
            out.push(control);
        }
        out
    }

    /// Declared topics followed by derived ones: everything `weft topics apply` provisions.
    pub fn all_topics(&self) -> Vec<TopicSpec> {
        let mut all = self.topics.clone();
        all.extend(self.derived_topics());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: cypher.order.created.v1
event_type: order.created
partitions: 6
replication_factor: 3
min_insync_replicas: 2
cleanup_policy: delete
retention: 7d
key: order_id
value_subject: cypher.order.created.v1-value
value_schema: cypher.order.OrderCreated
owner: checkout
consumers: [cypher.notification-worker, cypher.erp-sync]
priority: critical
sla: 1s
config:
  max.message.bytes: 1048576
"#;

    fn path() -> PathBuf {
        PathBuf::from("topics/cypher/cypher.order.created.v1.yaml")
    }

    #[test]
    fn a_good_spec_parses_with_defaults() {
        let t = TopicSpec::parse(&path(), GOOD).unwrap();
        assert_eq!(t.partitions, 6);
        assert_eq!(t.sla, Some(Duration::from_secs(1)));
        assert_eq!(t.compatibility, "BACKWARD");
        let cfg = t.topic_configs();
        assert_eq!(cfg["retention.ms"], "604800000");
        assert_eq!(cfg["min.insync.replicas"], "2");
        assert_eq!(cfg["max.message.bytes"], "1048576");
    }

    fn err_of(text: &str) -> String {
        TopicSpec::parse(&path(), text).unwrap_err().to_string()
    }

    #[test]
    fn malformed_specs_name_file_field_and_problem() {
        let e = err_of(&GOOD.replace("partitions: 6", "partitions: 0"));
        assert!(
            e.contains("cypher.order.created.v1.yaml") && e.contains("`partitions`"),
            "{e}"
        );
        let e = err_of(&GOOD.replace("retention: 7d", "retention: a week"));
        assert!(e.contains("`retention`") && e.contains("a week"), "{e}");
        let e = err_of(&GOOD.replace("owner: checkout", "owner: checkout\npartition: 3"));
        assert!(
            e.contains("`partition`") && e.contains("unknown field"),
            "{e}"
        );
        let e = err_of(&GOOD.replace("key: order_id\n", ""));
        assert!(e.contains("`key`") && e.contains("missing"), "{e}");
        let e = err_of(&GOOD.replace(
            "name: cypher.order.created.v1",
            "name: cypher.order.created.v2",
        ));
        assert!(e.contains("`name`") && e.contains("file name"), "{e}");
        let e = err_of(&GOOD.replace("min_insync_replicas: 2", "min_insync_replicas: 4"));
        assert!(e.contains("`min_insync_replicas`"), "{e}");
        let e = err_of(&GOOD.replace("priority: critical", "priority: urgent"));
        assert!(e.contains("`priority`") || e.contains("urgent"), "{e}");
    }

    #[test]
    fn topic_names_follow_the_convention() {
        assert!(is_valid_topic_name("cypher.order.created.v1"));
        assert!(is_valid_topic_name("composerp.inventory.low-stock.v12"));
        assert!(!is_valid_topic_name("cypher.order.created"));
        assert!(!is_valid_topic_name("Cypher.order.created.v1"));
        assert!(!is_valid_topic_name("cypher.order..v1"));
    }

    #[test]
    fn groups_get_defaults_or_their_spec_and_derive_topics() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cypher")).unwrap();
        std::fs::create_dir_all(dir.path().join("groups")).unwrap();
        std::fs::write(dir.path().join("cypher/cypher.order.created.v1.yaml"), GOOD).unwrap();
        std::fs::write(
            dir.path().join("groups/cypher.erp-sync.yaml"),
            "group: cypher.erp-sync\nretry:\n  delays: [1s, 2s]\ndead_letter:\n  retention: 7d\n",
        )
        .unwrap();
        let set = SpecSet::load(dir.path()).unwrap();
        assert_eq!(set.groups().len(), 2);
        assert_eq!(
            set.group("cypher.notification-worker").retry.delays,
            default_retry_delays()
        );
        let derived: Vec<String> = set.derived_topics().into_iter().map(|t| t.name).collect();
        assert_eq!(
            derived,
            vec![
                "cypher.erp-sync.retry.1s",
                "cypher.erp-sync.retry.2s",
                "cypher.erp-sync.dlq",
                "cypher.notification-worker.retry.10s",
                "cypher.notification-worker.retry.1m",
                "cypher.notification-worker.retry.5m",
                "cypher.notification-worker.dlq",
            ]
        );
        assert!(set.derived_topics().iter().all(|t| t.partitions == 6));
    }

    #[test]
    fn stores_derive_compacted_changelogs_and_bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cypher")).unwrap();
        std::fs::create_dir_all(dir.path().join("groups")).unwrap();
        std::fs::write(dir.path().join("cypher/cypher.order.created.v1.yaml"), GOOD).unwrap();
        std::fs::write(
            dir.path().join("groups/cypher.erp-sync.yaml"),
            "group: cypher.erp-sync\nstores: [accounts, open-orders]\nrepartition: true\n",
        )
        .unwrap();
        let set = SpecSet::load(dir.path()).unwrap();
        let repartition = set
            .derived_topics()
            .into_iter()
            .find(|t| t.name == "cypher.erp-sync.repartition")
            .expect("a repartition topic");
        assert_eq!(
            (repartition.partitions, repartition.cleanup_policy),
            (6, CleanupPolicy::Delete)
        );
        let changelogs: Vec<TopicSpec> = set
            .derived_topics()
            .into_iter()
            .filter(|t| t.name.ends_with(".changelog"))
            .collect();
        let names: Vec<&str> = changelogs.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cypher.erp-sync.accounts.changelog",
                "cypher.erp-sync.open-orders.changelog"
            ]
        );
        for t in &changelogs {
            assert_eq!(t.cleanup_policy, CleanupPolicy::Compact);
            assert_eq!(t.partitions, 6, "as many partitions as the inputs");
        }
        for (bad, why) in [
            ("stores: [Accounts]", "not a store name"),
            ("stores: [a, a]", "declared twice"),
        ] {
            let err = GroupSpec::parse(
                Path::new("topics/groups/g.yaml"),
                &format!("group: g\n{bad}\n"),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(why) && err.contains("stores"), "{err}");
        }
    }
}
