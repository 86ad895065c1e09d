//! The repository's `avro/` directory loads as one catalog.

use weft_contracts::catalog::{repo_avro_dir, Catalog};

#[test]
fn repository_schemas_load_and_resolve() {
    let catalog = Catalog::load(repo_avro_dir()).expect("avro/ loads");
    let order = catalog.dependency_order();
    assert_eq!(
        order.first().map(String::as_str),
        Some("weft.common.EventMetadata")
    );
    let events: Vec<_> = catalog
        .entries()
        .filter(|e| e.full_name != "weft.common.EventMetadata")
        .collect();
    assert!(events.len() >= 70, "only {} event schemas", events.len());
    for entry in events {
        assert_eq!(
            entry.depends_on,
            ["weft.common.EventMetadata"],
            "{}",
            entry.full_name
        );
        // Every event is self-contained after inlining and re-parses on its own.
        let json = catalog.self_contained_json(&entry.full_name).unwrap();
        apache_avro::Schema::parse_str(&json)
            .unwrap_or_else(|e| panic!("{}: {e}", entry.full_name));
        assert_eq!(
            catalog.dependencies(&entry.full_name).unwrap(),
            ["weft.common.EventMetadata"]
        );
    }
}
