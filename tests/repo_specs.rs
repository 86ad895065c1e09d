//! The specs checked into `topics/` are valid, and every name `weft topics apply` would create is
//! unique: a bad spec fails CI here, naming its file and field.

use std::collections::BTreeSet;

use weft_core::spec::SpecSet;
use weft_testkit::repo_root;

#[test]
fn repository_specs_load_and_names_are_unique() {
    let specs = SpecSet::load(&repo_root().join("topics")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!specs.topics.is_empty(), "topics/ declares no topic");
    let all = specs.all_topics();
    let names: BTreeSet<&str> = all.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names.len(),
        all.len(),
        "a derived topic collides with a declared one"
    );
    for t in &specs.topics {
        assert_eq!(
            t.value_subject,
            format!("{}-value", t.name),
            "{}: TopicNameStrategy",
            t.path.display()
        );
        for group in &t.consumers {
            assert!(
                group.starts_with(&format!("{}.", t.name.split('.').next().unwrap())),
                "{}: consumer group {group} is not <system>.<service>",
                t.path.display()
            );
        }
    }
}
