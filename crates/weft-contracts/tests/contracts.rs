//! Every contract round-trips its seed example through its schema, and no struct drifts from its
//! `.avsc`.

use weft_contracts::catalog::{repo_avro_dir, Catalog};
use weft_contracts::registry;

fn catalog() -> Catalog {
    Catalog::load(repo_avro_dir()).expect("avro/ loads")
}

#[test]
fn every_contract_round_trips_its_seed_example() {
    let catalog = catalog();
    let mut failures = Vec::new();
    for entry in registry::all() {
        if let Err(e) = (entry.round_trip)(&catalog) {
            failures.push(format!("{} ({}): {e}", entry.schema, entry.rust_type));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_struct_drifts_from_its_schema() {
    let catalog = catalog();
    let mut problems = Vec::new();
    for entry in registry::all() {
        problems.extend((entry.drift)(&catalog));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_enum_symbol_maps_both_ways_and_unknown_symbols_fall_back_to_the_default() {
    let catalog = catalog();
    let mut problems = Vec::new();
    for entry in registry::all() {
        problems.extend((entry.enum_symbols)(&catalog));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
