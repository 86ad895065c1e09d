//! Every contract round-trips its seed example through its schema, and no struct drifts from its
//! `.avsc`.

use weft_contracts::catalog::{repo_avro_dir, Catalog};
use weft_contracts::{json, registry};

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

/// The example files are what the generated `Example` impls were built from: read back through
/// the schema (the plain JSON `weft produce` takes), each says exactly what its Rust example is.
#[test]
fn every_example_file_is_its_contracts_example() {
    let catalog = catalog();
    let mut checked = 0;
    for entry in registry::all() {
        let schema = catalog.entry(entry.schema).unwrap();
        let path = schema.path.with_extension("example.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Read with the payload's schema and written back in the canonical form ("12.5" and
        // "12.5000" are the same decimal).
        let schema = catalog.self_contained(entry.schema).unwrap();
        let apache_avro::Schema::Record(envelope) = &schema else {
            panic!("{} is not a record", entry.schema)
        };
        let payload = &envelope.fields[envelope.lookup["payload"]].schema;
        let value =
            json::from_json(&file, payload).unwrap_or_else(|m| panic!("{}: {m:?}", path.display()));
        let from_rust = (entry.example_json)(&catalog).unwrap();
        assert_eq!(
            json::to_json(&value, payload),
            from_rust,
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert_eq!(checked, registry::all().len());
    assert!(checked >= 74, "only {checked} contracts");
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

/// A catalog of EventMetadata plus one edited copy of the StockChanged schema.
fn catalog_with_edited_stock_changed(edit: impl FnOnce(&mut serde_json::Value)) -> Catalog {
    let dir = tempfile::tempdir().unwrap();
    let avro = repo_avro_dir();
    std::fs::create_dir_all(dir.path().join("common")).unwrap();
    std::fs::copy(
        avro.join("common/EventMetadata.avsc"),
        dir.path().join("common/EventMetadata.avsc"),
    )
    .unwrap();
    let text = std::fs::read_to_string(avro.join("cypher/stock/StockChanged.avsc")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut json);
    std::fs::write(dir.path().join("StockChanged.avsc"), json.to_string()).unwrap();
    Catalog::load(dir.path()).unwrap()
}

fn payload_fields(json: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
    json["fields"][1]["type"]["fields"].as_array_mut().unwrap()
}

#[test]
fn drift_check_reports_fields_in_one_and_not_the_other() {
    let entry = registry::ContractEntry::of::<weft_contracts::cypher::stock::StockChanged>();

    let extra = catalog_with_edited_stock_changed(|json| {
        payload_fields(json).push(serde_json::json!(
            {"name": "warehouse_id", "type": "string", "doc": "Added to the schema only."}
        ));
    });
    let problems = (entry.drift)(&extra).join("\n");
    assert!(
        problems.contains("payload.warehouse_id: in the schema, not in the struct"),
        "{problems}"
    );

    let missing = catalog_with_edited_stock_changed(|json| {
        payload_fields(json).retain(|f| f["name"] != "new_available");
    });
    let problems = (entry.drift)(&missing).join("\n");
    assert!(
        problems.contains("payload.new_available: in the struct, not in the schema"),
        "{problems}"
    );

    let retyped = catalog_with_edited_stock_changed(|json| {
        for f in payload_fields(json) {
            if f["name"] == "quantity_change" {
                f["type"] = serde_json::json!("string");
            }
        }
    });
    let problems = (entry.drift)(&retyped).join("\n");
    assert!(
        problems.contains("payload.quantity_change: schema says a string, struct gives int"),
        "{problems}"
    );
}

#[test]
fn money_survives_the_wire_to_the_last_digit() {
    use weft_contracts::codec::{decode_value, ContractCodec};
    use weft_contracts::cypher::order::OrderCreated;
    use weft_contracts::{dec, Event, Example};

    let catalog = catalog();
    let codec = ContractCodec::<OrderCreated>::new(&catalog).unwrap();
    let mut payload = OrderCreated::example();
    payload.totals.total = dec("99999999999999.9999");
    payload.totals.tax_amount = dec("-0.0001");
    payload.items[0].unit_price = dec("0.1");
    let event = Event::new(registry::example_metadata::<OrderCreated>(), payload);
    let bytes = codec.encode(&event).unwrap();
    let back = codec.decode(&bytes).unwrap();
    assert_eq!(back.payload.totals.total.to_string(), "99999999999999.9999");
    assert_eq!(back.payload.totals.tax_amount.to_string(), "-0.0001");
    assert_eq!(back.payload.items[0].unit_price.units(), 1_000);

    // On the wire it is the Avro decimal logical type: unscaled two's-complement bytes.
    let value = decode_value(codec.schema(), None, &bytes).unwrap();
    let apache_avro::types::Value::Record(fields) = value else {
        panic!("not a record")
    };
    let apache_avro::types::Value::Record(payload) = &fields[1].1 else {
        panic!("payload is not a record")
    };
    let totals = &payload.iter().find(|(n, _)| n == "totals").unwrap().1;
    let apache_avro::types::Value::Record(totals) = totals else {
        panic!("totals is not a record")
    };
    let tax = &totals.iter().find(|(n, _)| n == "tax_amount").unwrap().1;
    let apache_avro::types::Value::Decimal(tax) = tax else {
        panic!("tax_amount is not a decimal: {tax:?}")
    };
    assert_eq!(Vec::<u8>::try_from(tax).unwrap(), vec![0xff]);
}

#[test]
fn decoding_with_a_newer_writer_schema_resolves_to_the_contract() {
    use weft_contracts::codec::{encode, ContractCodec};
    use weft_contracts::cypher::stock::StockChanged;

    // A newer producer added an optional field; an old consumer still reads the event.
    let newer = catalog_with_edited_stock_changed(|json| {
        payload_fields(json).push(serde_json::json!(
            {"name": "warehouse_id", "type": ["null", "string"], "default": null, "doc": "New."}
        ));
    });
    let writer = newer.self_contained("cypher.stock.StockChanged").unwrap();
    let event = registry::example_event::<StockChanged>();
    // The newer producer's own struct has the new field.
    let newer_struct = NewerStockChanged {
        metadata: event.metadata.clone(),
        payload: NewerPayload {
            inner: event.payload.clone(),
            warehouse_id: Some("WH-1".into()),
        },
    };
    let bytes = encode(&writer, &newer_struct).unwrap();
    let codec = ContractCodec::<StockChanged>::new(&catalog()).unwrap();
    let read = codec.decode_from(&writer, &bytes).unwrap();
    assert_eq!(read, event);
    assert!(
        codec.decode(&bytes).is_err(),
        "reading with the wrong writer schema must fail"
    );
}

#[derive(serde::Serialize)]
struct NewerStockChanged {
    metadata: weft_contracts::EventMetadata,
    payload: NewerPayload,
}

#[derive(serde::Serialize)]
struct NewerPayload {
    #[serde(flatten)]
    inner: weft_contracts::cypher::stock::StockChanged,
    warehouse_id: Option<String>,
}
