//! The seed-event inventory (derived from the topic specs) agrees with `avro/` and the typed
//! contracts, and `docs/event-inventory.md` is rendered from it.

use weft_contracts::catalog::{repo_avro_dir, repo_root, Catalog};
use weft_contracts::inventory::{self, load_topic_specs, Inventory};
use weft_contracts::registry;
use weft_core::spec::{Priority, TopicSpec};

fn parts() -> (Catalog, Vec<TopicSpec>) {
    let catalog = Catalog::load(repo_avro_dir()).expect("avro/ loads");
    let topics = load_topic_specs(&repo_root().join("topics")).expect("topic specs load");
    (catalog, topics)
}

#[test]
fn topic_specs_schemas_and_contracts_agree() {
    let (catalog, topics) = parts();
    let problems = inventory::check(&catalog, &topics, &registry::all());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let inventory = Inventory::from_specs(&topics);
    assert_eq!(inventory.events.len(), registry::all().len());
    assert_eq!(inventory.events.len(), topics.len());
}

#[test]
fn the_processor_flows_exist() {
    let inventory = Inventory::from_specs(&parts().1);
    let wanted = [
        ("b2b", "order.placed"),
        ("b2b", "order.cancelled"),
        ("b2b", "order.shipped"),
        ("b2b", "email.notification-requested"),
        ("b2b", "inventory.released"),
        ("collector", "offer.approved"),
        ("collector", "order.created"),
        ("cypher", "stock.changed"),
        ("cypher", "price.changed"),
        ("cypher", "product.updated"),
        ("composerp", "INVENTORY_UPDATED"),
        ("composerp", "INVENTORY_LOW_STOCK"),
        ("composerp", "REPLENISHMENT_TRIGGERED"),
        ("viscount", "InventoryUpdated"),
        ("viscount", "LowStockAlert"),
        ("viscount", "product.out_of_stock"),
    ];
    for (system, event) in wanted {
        assert!(
            inventory
                .events
                .iter()
                .any(|e| e.system == system && e.seed_event == event),
            "{system} {event} is missing"
        );
    }
}

#[test]
fn check_reports_a_missing_schema_a_spec_without_seed_and_unlisted_schemas() {
    let (catalog, mut topics) = parts();
    // A spec whose schema does not exist.
    let mut ghost = topics[0].clone();
    ghost.name = "cypher.ghost.appeared.v1".into();
    ghost.value_subject = "cypher.ghost.appeared.v1-value".into();
    ghost.value_schema = "cypher.ghost.GhostAppeared".into();
    topics.push(ghost);
    // A schema no spec names any more.
    let dropped = topics.remove(1);
    // A spec without its seed document, and one with the wrong partition count.
    topics[2].seed = None;
    let unseeded = topics[2].name.clone();
    let critical = topics
        .iter_mut()
        .find(|t| t.priority == Priority::Critical)
        .unwrap();
    critical.partitions = 3;
    let critical_name = critical.name.clone();

    let problems = inventory::check(&catalog, &topics, &registry::all()).join("\n");
    assert!(
        problems.contains("schema cypher.ghost.GhostAppeared is not in avro/"),
        "{problems}"
    );
    assert!(
        problems.contains("expected at topics/cypher/cypher.ghost.appeared.v1.yaml"),
        "{problems}"
    );
    assert!(
        problems.contains("no typed contract for cypher.ghost.GhostAppeared"),
        "{problems}"
    );
    assert!(
        problems.contains(&format!("schema {} (", dropped.value_schema)),
        "{problems}"
    );
    assert!(
        problems.contains(&format!("topic spec {unseeded} ("))
            && problems.contains("no seed: block"),
        "{problems}"
    );
    assert!(
        problems.contains(&format!("topic spec {critical_name}: 3 partitions")),
        "{problems}"
    );
}

#[test]
fn inventory_markdown_is_up_to_date() {
    let inventory = Inventory::from_specs(&parts().1);
    let rendered = inventory::render_markdown(&inventory);
    let path = repo_root().join("docs/event-inventory.md");
    if std::env::var_os("WEFT_BLESS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == rendered,
        "docs/event-inventory.md is stale; run WEFT_BLESS=1 cargo test -p weft-contracts --test inventory"
    );
    // Every inventory row is in the table.
    for e in &inventory.events {
        assert!(current.contains(&format!(
            "| `{}` | `{}` | `{}` |",
            e.seed_event, e.schema, e.topic
        )));
    }
}
