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
//! - a topic without a typed contract in [`crate::registry::all`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use weft_core::spec::{Priority, Retention, SpecSet, TopicSpec};

use crate::catalog::Catalog;
use crate::error::Result;
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

impl Inventory {
    /// The inventory of the specs that name a seed document.
    pub fn from_specs(specs: &[TopicSpec]) -> Self {
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

/// Every topic spec under `topics_dir` (weft-core's parser: the one definition of a spec).
pub fn load_topic_specs(topics_dir: &Path) -> Result<Vec<TopicSpec>> {
    Ok(SpecSet::load(topics_dir)?.topics)
}

/// Everything that does not line up between the topic specs, the catalog and the typed
/// contracts; empty when all agree.
pub fn check(catalog: &Catalog, topics: &[TopicSpec], contracts: &[ContractEntry]) -> Vec<String> {
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
        // Contracts are generated from the specs, so they agree by construction; what can go
        // wrong is a spec the generator skipped.
        if !contracts.contains_key(spec.value_schema.as_str()) {
            problems.push(format!(
                "{who}: no typed contract for {} in registry::all()",
                spec.value_schema
            ));
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
fn sizing_problems(spec: &TopicSpec) -> Vec<String> {
    let mut problems = Vec::new();
    let who = format!("topic spec {}", spec.name);
    let name = spec.priority.as_str();
    let (partitions, sla) = match spec.priority {
        Priority::Critical => (6, Some(1)),
        Priority::High => (6, Some(5)),
        Priority::Normal => (3, Some(30)),
        Priority::Low => (3, None),
    };
    // At least the priority's count: a topic read by a stateful processor has the partitions
    // of its co-partitioned inputs (the runtime refuses unequal counts), which may be more.
    if spec.partitions < partitions {
        problems.push(format!(
            "{who}: {} partitions; {name} topics have at least {partitions}",
            spec.partitions
        ));
    }
    if spec.sla != sla.map(Duration::from_secs) {
        problems.push(format!(
            "{who}: sla {:?}; {name} topics have {}",
            spec.sla,
            sla.map_or("none".to_string(), |s| format!("{s}s"))
        ));
    }
    if spec.replication_factor != 3 || spec.min_insync_replicas != Some(2) {
        problems.push(format!(
            "{who}: replication_factor 3 and min_insync_replicas 2 expected"
        ));
    }
    if spec.retention != Retention::For(Duration::from_secs(7 * 24 * 3600)) {
        problems.push(format!(
            "{who}: retention {:?}; seed topics keep 7d",
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
