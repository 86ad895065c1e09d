use apache_avro::Schema;

use super::{can_read, check, Level};

fn s(json: &str) -> Schema {
    Schema::parse_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn rec(fields: &str) -> Schema {
    s(&format!(
        r#"{{"type":"record","name":"R","namespace":"t","fields":[{fields}]}}"#
    ))
}

fn reads(reader: &Schema, writer: &Schema) -> bool {
    can_read(reader, writer).is_empty()
}

const ID: &str = r#"{"name":"id","type":"long"}"#;

#[test]
fn field_added_with_and_without_default() {
    let v1 = rec(ID);
    let with_default = rec(&format!(
        r#"{ID},{{"name":"n","type":"string","default":""}}"#
    ));
    let without = rec(&format!(r#"{ID},{{"name":"n","type":"string"}}"#));
    assert!(check(Level::Backward, &with_default, std::slice::from_ref(&v1)).is_empty());
    let found = check(Level::Backward, &without, std::slice::from_ref(&v1));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "/fields/n");
    assert!(found[0].reason.contains("no default"), "{}", found[0]);
    // Old readers ignore a new field: forward compatible either way.
    assert!(check(Level::Forward, &without, std::slice::from_ref(&v1)).is_empty());
    assert!(check(Level::Full, &with_default, std::slice::from_ref(&v1)).is_empty());
    assert!(!check(Level::Full, &without, &[v1]).is_empty());
}

#[test]
fn field_removed_with_and_without_default() {
    let with_default = rec(&format!(
        r#"{ID},{{"name":"n","type":"string","default":""}}"#
    ));
    let without = rec(&format!(r#"{ID},{{"name":"n","type":"string"}}"#));
    let v2 = rec(ID);
    // New readers ignore the removed field: backward compatible either way.
    assert!(check(Level::Backward, &v2, std::slice::from_ref(&without)).is_empty());
    // Old readers need a default for the field the new writer no longer sends.
    assert!(check(Level::Forward, &v2, &[with_default]).is_empty());
    let found = check(Level::Forward, &v2, &[without]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].path.as_str(), found[0].direction),
        ("/fields/n", "FORWARD")
    );
}

#[test]
fn rename_with_alias() {
    let old = rec(r#"{"name":"amount","type":"long"}"#);
    let renamed = rec(r#"{"name":"total","type":"long"}"#);
    let aliased = rec(r#"{"name":"total","type":"long","aliases":["amount"]}"#);
    assert!(!reads(&renamed, &old));
    assert!(reads(&aliased, &old));
    // Record renamed with an alias to the old name.
    let new_name = s(
        r#"{"type":"record","name":"S","namespace":"t","aliases":["R"],"fields":[{"name":"amount","type":"long"}]}"#,
    );
    assert!(reads(&new_name, &old));
    let no_alias = s(
        r#"{"type":"record","name":"S","namespace":"t","fields":[{"name":"amount","type":"long"}]}"#,
    );
    let found = can_read(&no_alias, &old);
    assert!(found[0].1.contains("does not match"), "{found:?}");
}

#[test]
fn numeric_and_string_bytes_promotions() {
    let order = ["\"int\"", "\"long\"", "\"float\"", "\"double\""];
    for (i, w) in order.iter().enumerate() {
        for (j, r) in order.iter().enumerate() {
            assert_eq!(reads(&s(r), &s(w)), j >= i, "reader {r} writer {w}");
        }
    }
    assert!(reads(&s("\"string\""), &s("\"bytes\"")));
    assert!(reads(&s("\"bytes\""), &s("\"string\"")));
    assert!(!reads(&s("\"string\""), &s("\"int\"")));
    let found = can_read(&s("\"int\""), &s("\"long\""));
    assert_eq!(found[0].1, "reader type int cannot read writer type long");
}

#[test]
fn promotion_to_union_and_removing_a_branch() {
    let int = s("\"int\"");
    let opt_long = s(r#"["null","long"]"#);
    assert!(reads(&opt_long, &int));
    assert!(!reads(&int, &opt_long));
    let three = s(r#"["null","string","long"]"#);
    assert!(reads(&three, &opt_long));
    let found = can_read(&opt_long, &three);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].1.contains("branch 1 (string)"), "{found:?}");
    // Field level: the path names the field.
    let v1 = rec(r#"{"name":"x","type":["null","string","long"]}"#);
    let v2 = rec(r#"{"name":"x","type":["null","long"]}"#);
    let found = check(Level::Backward, &v2, &[v1]);
    assert_eq!(found[0].path, "/fields/x");
}

#[test]
fn enum_symbols_with_and_without_default() {
    let abc = s(r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#);
    let ab = s(r#"{"type":"enum","name":"E","symbols":["A","B"]}"#);
    let ab_default = s(r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#);
    // Symbol added: the new reader knows every old symbol.
    assert!(check(Level::Backward, &abc, std::slice::from_ref(&ab)).is_empty());
    // ...but an old reader meets an unknown symbol.
    let found = check(Level::Forward, &abc, std::slice::from_ref(&ab));
    assert_eq!(found[0].path, "/symbols");
    assert!(found[0].reason.contains("\"C\""), "{found:?}");
    // With an enum default the old reader maps it.
    assert!(check(Level::Forward, &abc, &[ab_default]).is_empty());
    // Symbol removed: new reader without a default cannot read old C.
    assert!(!check(Level::Backward, &ab, std::slice::from_ref(&abc)).is_empty());
    let ab_default = s(r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"B"}"#);
    assert!(check(Level::Backward, &ab_default, &[abc]).is_empty());
}

#[test]
fn nested_records_arrays_and_maps() {
    let inner = |extra: &str| {
        s(&format!(
            r#"{{"type":"record","name":"Outer","fields":[
                {{"name":"addr","type":{{"type":"record","name":"Addr","fields":[{{"name":"city","type":"string"}}{extra}]}}}},
                {{"name":"tags","type":{{"type":"array","items":"int"}}}},
                {{"name":"attrs","type":{{"type":"map","values":"int"}}}}]}}"#
        ))
    };
    let v1 = inner("");
    let v2 = inner(r#",{"name":"zip","type":"string"}"#);
    let found = check(Level::Backward, &v2, std::slice::from_ref(&v1));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "/fields/addr/fields/zip");

    let narrowed = s(r#"{"type":"record","name":"Outer","fields":[
        {"name":"addr","type":{"type":"record","name":"Addr","fields":[{"name":"city","type":"string"}]}},
        {"name":"tags","type":{"type":"array","items":"long"}},
        {"name":"attrs","type":{"type":"map","values":"long"}}]}"#);
    // int -> long in items and values is a promotion: backward ok, forward not.
    assert!(check(Level::Backward, &narrowed, std::slice::from_ref(&v1)).is_empty());
    let paths: Vec<String> = check(Level::Forward, &narrowed, &[v1])
        .into_iter()
        .map(|i| i.path)
        .collect();
    assert_eq!(paths, ["/fields/tags/items", "/fields/attrs/values"]);
}

#[test]
fn recursive_types_terminate() {
    let list = s(
        r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}"#,
    );
    assert!(reads(&list, &list));
}

#[test]
fn transitive_checks_every_version_latest_only_checks_the_last() {
    // v1 has `n` without default, v2 drops it, v3 adds it back with another type.
    let v1 = rec(&format!(r#"{ID},{{"name":"n","type":"int"}}"#));
    let v2 = rec(ID);
    let v3 = rec(&format!(
        r#"{ID},{{"name":"n","type":"string","default":""}}"#
    ));
    let history = [v1, v2];
    assert!(check(Level::Backward, &v3, &history).is_empty());
    let found = check(Level::BackwardTransitive, &v3, &history);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].against, found[0].path.as_str()), (0, "/fields/n"));
    assert!(check(Level::None, &s("\"int\""), &history).is_empty());
}

#[test]
fn levels_round_trip_their_names() {
    for l in Level::ALL {
        assert_eq!(Level::parse(l.as_str()), Some(l));
    }
    assert_eq!(Level::parse("SIDEWAYS"), None);
}
