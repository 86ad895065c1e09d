//! The seed-event inventory: every event of the five seed systems with its schema, topic, key and
//! consumers, derived from the topic specs (`topics/<system>/<topic>.yaml`, whose `seed:` block
//! names the seed document), the consistency checks that tie it to `avro/` and the typed
//! contracts, and the `docs/event-inventory.md` table rendered from it. There is no separate
//! inventory file: one event is one `.avsc` and one topic spec.
//!
//! [`check`] reports, in sentences:
//! - a topic spec without a `seed:` block, whose schema is not in the catalog, whose file is not
//!   at `topics/<system>/<topic>.yaml`, or whose value subject is not `<topic>-value`;
//! - a schema (other than `weft.common.*`) that no topic spec names;
//! - a topic spec that breaks the sizing rules (6 partitions for critical/high, 3 otherwise;
//!   SLA 1s/5s/30s/none by priority; replication 3, min ISR 2, retention 7d);
//! - a topic without a typed contract in [`crate::registry::all`], or a contract that disagrees
//!   with its spec (topic, event type, key field, priority).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::catalog::Catalog;
use crate::error::{ContractsError, Result};
use crate::registry::ContractEntry;

/// The seed events, in seed order (by seed document, then topic).
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    /// Every seed event.
    pub events: Vec<InventoryEvent>,
}

/// One seed event.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryEvent {
    /// The weft system: cypher, collector, composerp, b2b, viscount.
    pub system: String,
    /// The event type as the seed spells it.
    pub seed_event: String,
    /// The seed document it comes from.
    pub seed_file: String,
    /// Full Avro name of the value schema.
    pub schema: String,
    /// Topic name.
    pub topic: String,
    /// Payload field that is the Kafka key.
    pub key: String,
    /// Consuming groups.
    pub consumers: Vec<String>,
    /// True when the seed names the event but does not spell out its payload.
    pub derived: bool,
}

/// `seed:` of a topic spec.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SeedView {
    /// The seed document.
    pub file: String,
    /// True when the payload was designed from the seed's context.
    pub derived: bool,
}

impl Inventory {
    /// The inventory of the specs that name a seed document.
    pub fn from_specs(specs: &[TopicSpecView]) -> Self {
        let mut events: Vec<InventoryEvent> = specs
            .iter()
            .filter_map(|spec| {
                let seed = spec.seed.as_ref()?;
                Some(InventoryEvent {
                    system: spec.name.split('.').next().unwrap_or_default().to_string(),
                    seed_event: spec.event_type.clone(),
                    seed_file: seed.file.clone(),
                    schema: spec.value_schema.clone(),
                    topic: spec.name.clone(),
                    key: spec.key.clone(),
                    consumers: spec.consumers.clone(),
                    derived: seed.derived,
                })
            })
            .collect();
        events.sort_by(|a, b| (&a.seed_file, &a.topic).cmp(&(&b.seed_file, &b.topic)));
        Inventory { events }
    }
}

/// The fields of a topic spec this crate reads (weft-core owns the full, strict parser).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TopicSpecView {
    /// Topic name.
    pub name: String,
    /// Seed event type.
    pub event_type: String,
    /// Partitions.
    pub partitions: i32,
    /// Replication factor.
    pub replication_factor: i32,
    /// Minimum in-sync replicas.
    #[serde(default)]
    pub min_insync_replicas: Option<i32>,
    /// Retention.
    pub retention: String,
    /// Key field.
    pub key: String,
    /// Value subject.
    pub value_subject: String,
    /// Value schema full name.
    pub value_schema: String,
    /// Consuming groups.
    #[serde(default)]
    pub consumers: Vec<String>,
    /// Priority.
    pub priority: String,
    /// SLA.
    #[serde(default)]
    pub sla: Option<String>,
    /// Compatibility level.
    #[serde(default)]
    pub compatibility: Option<String>,
    /// The seed document of the event.
    #[serde(default)]
    pub seed: Option<SeedView>,
    /// The file it was read from.
    #[serde(skip)]
    pub path: PathBuf,
}

/// Every topic spec under `topics_dir` (not `groups/`, not files starting with `_` or
/// `inventory`).
pub fn load_topic_specs(topics_dir: &Path) -> Result<Vec<TopicSpecView>> {
    let mut files = Vec::new();
    yaml_files(topics_dir, &mut files)?;
    files.sort();
    let mut specs = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let in_groups = path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|p| p == "groups");
        if in_groups || name.starts_with('_') || name.starts_with("inventory") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ContractsError::io(&path, e))?;
        let mut spec: TopicSpecView =
            serde_yaml_ng::from_str(&text).map_err(|e| ContractsError::Malformed {
                path: path.clone(),
                problem: e.to_string(),
            })?;
        spec.path = path;
        specs.push(spec);
    }
    Ok(specs)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for item in std::fs::read_dir(dir).map_err(|e| ContractsError::io(dir, e))? {
        let item = item.map_err(|e| ContractsError::io(dir, e))?;
        let path = item.path();
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Everything that does not line up between the topic specs, the catalog and the typed
/// contracts; empty when all agree.
pub fn check(
    catalog: &Catalog,
    topics: &[TopicSpecView],
    contracts: &[ContractEntry],
) -> Vec<String> {
    let mut problems = Vec::new();
    let contracts: BTreeMap<&str, &ContractEntry> =
        contracts.iter().map(|c| (c.schema, c)).collect();
    let mut schemas_seen = BTreeSet::new();

    for spec in topics {
        let system = spec.name.split('.').next().unwrap_or_default();
        let who = format!("topic spec {} ({})", spec.name, spec.path.display());
        if spec.seed.is_none() {
            problems.push(format!(
                "{who}: no seed: block (file: the seed document, derived: true|false)"
            ));
        }
        if !schemas_seen.insert(spec.value_schema.as_str()) {
            problems.push(format!(
                "{who}: schema {} is named by another topic spec too",
                spec.value_schema
            ));
        }
        if catalog.get(&spec.value_schema).is_none() {
            problems.push(format!(
                "{who}: schema {} is not in avro/",
                spec.value_schema
            ));
        }
        if !spec.value_schema.starts_with(&format!("{system}.")) {
            problems.push(format!(
                "{who}: schema {} must start with the system name {system}",
                spec.value_schema
            ));
        }
        let expected_path = Path::new(system).join(format!("{}.yaml", spec.name));
        if !spec.path.ends_with(&expected_path) {
            problems.push(format!(
                "{who}: expected at topics/{}",
                expected_path.display()
            ));
        }
        if spec.value_subject != format!("{}-value", spec.name) {
            problems.push(format!(
                "{who}: value_subject must be {}-value (TopicNameStrategy)",
                spec.name
            ));
        }
        problems.extend(sizing_problems(spec));
        match contracts.get(spec.value_schema.as_str()) {
            None => problems.push(format!(
                "{who}: no typed contract for {} in registry::all()",
                spec.value_schema
            )),
            Some(c) => {
                if c.topic != spec.name
                    || c.event_type != spec.event_type
                    || c.key_field != spec.key
                {
                    problems.push(format!(
                        "{who}: contract {} says topic {}, event type {}, key {}",
                        c.rust_type, c.topic, c.event_type, c.key_field
                    ));
                }
                if c.priority.as_str() != spec.priority {
                    problems.push(format!(
                        "{who}: contract priority {} but topic spec priority {}",
                        c.priority.as_str(),
                        spec.priority
                    ));
                }
            }
        }
        // The key must be a top-level payload field of the schema.
        if let Some(entry) = catalog.get(&spec.value_schema) {
            let payload_fields = entry.json["fields"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["name"] == "payload"))
                .and_then(|p| p["type"]["fields"].as_array());
            let has_key =
                payload_fields.is_some_and(|fs| fs.iter().any(|f| f["name"] == spec.key.as_str()));
            if !has_key {
                problems.push(format!(
                    "{who}: key {} is not a payload field of {}",
                    spec.key, spec.value_schema
                ));
            }
        }
    }

    for entry in catalog.entries() {
        if !entry.full_name.starts_with("weft.common.")
            && !schemas_seen.contains(entry.full_name.as_str())
        {
            problems.push(format!(
                "schema {} ({}) has no topic spec",
                entry.full_name,
                entry.relative_path.display()
            ));
        }
    }
    problems
}

/// The sizing rules every seed topic follows.
fn sizing_problems(spec: &TopicSpecView) -> Vec<String> {
    let mut problems = Vec::new();
    let who = format!("topic spec {}", spec.name);
    let (partitions, sla) = match spec.priority.as_str() {
        "critical" => (6, Some("1s")),
        "high" => (6, Some("5s")),
        "normal" => (3, Some("30s")),
        "low" => (3, None),
        other => {
            problems.push(format!("{who}: unknown priority {other}"));
            return problems;
        }
    };
    if spec.partitions != partitions {
        problems.push(format!(
            "{who}: {} partitions; {} topics have {partitions}",
            spec.partitions, spec.priority
        ));
    }
    if spec.sla.as_deref() != sla {
        problems.push(format!(
            "{who}: sla {:?}; {} topics have {sla:?}",
            spec.sla, spec.priority
        ));
    }
    if spec.replication_factor != 3 || spec.min_insync_replicas != Some(2) {
        problems.push(format!(
            "{who}: replication_factor 3 and min_insync_replicas 2 expected"
        ));
    }
    if spec.retention != "7d" {
        problems.push(format!(
            "{who}: retention {}; seed topics keep 7d",
            spec.retention
        ));
    }
    problems
}

/// The `docs/event-inventory.md` table for `inventory`.
pub fn render_markdown(inventory: &Inventory) -> String {
    let mut out = String::new();
    out.push_str("# Seed event inventory\n\n");
    out.push_str(
        "Every event of the five seed systems, its Avro value schema (in `avro/`), its topic (spec in\n\
         `topics/<system>/<topic>.yaml`), the payload field that is the Kafka key, and its consuming groups.\n\
         *derived* marks events the seed names without spelling out a payload; their fields were designed from\n\
         the seed's context (each schema's `doc` says how). Generated from the topic specs (their `seed:`\n\
         block names the seed document); the test `inventory_markdown_is_up_to_date` in `crates/weft-contracts`\n\
         fails when this file is stale (`WEFT_BLESS=1 cargo test -p weft-contracts --test inventory` rewrites it).\n",
    );
    let mut systems: Vec<&str> = Vec::new();
    for e in &inventory.events {
        if !systems.contains(&e.system.as_str()) {
            systems.push(&e.system);
        }
    }
    for system in systems {
        let events: Vec<&InventoryEvent> = inventory
            .events
            .iter()
            .filter(|e| e.system == system)
            .collect();
        out.push_str(&format!(
            "\n## {system} ({}, {} events)\n\n",
            events[0].seed_file,
            events.len()
        ));
        out.push_str("| seed event | schema | topic | key | consumers | derived |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for e in events {
            let consumers = if e.consumers.is_empty() {
                "-".to_string()
            } else {
                e.consumers
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push_str(&format!(
                "| `{}` | `{}` | `{}` | `{}` | {} | {} |\n",
                e.seed_event,
                e.schema,
                e.topic,
                e.key,
                consumers,
                if e.derived { "derived" } else { "" }
            ));
        }
    }
    out
}
