//! Names derived from specs: retry tiers and dead-letter topics of a consumer group.
//!
//! A group `G` (e.g. `cypher.catalog-worker`) owns `G.retry.<delay>` per retry tier and `G.dlq`.
//! Records from any of the group's input topics share them; the source topic travels in headers.

use std::time::Duration;

/// The retry topic of `group` for the tier with `delay`, e.g. `cypher.catalog-worker.retry.10s`.
pub fn retry_topic(group: &str, delay: Duration) -> String {
    format!("{group}.retry.{}", short_duration(delay))
}

/// The parking topic of `group` (per-key ordering): compacted, one record per key that has
/// records waiting in the retry tiers, e.g. `b2b.email-service.parking`.
pub fn parking_topic(group: &str) -> String {
    format!("{group}.parking")
}

/// The changelog topic of `group`'s keyed store `store`: compacted, one record per key (its
/// latest value, a tombstone once deleted), partition `p` holding the state of input partition
/// `p`, e.g. `composerp.inventory-ledger-service.positions.changelog`.
pub fn changelog_topic(group: &str, store: &str) -> String {
    format!("{group}.{store}.changelog")
}

/// The repartition topic of `group`: records of inputs the group keys by another entity,
/// re-keyed by it, e.g. `cypher.credit-worker.repartition`.
pub fn repartition_topic(group: &str) -> String {
    format!("{group}.repartition")
}

/// The dead-letter topic of `group`, e.g. `cypher.catalog-worker.dlq`.
pub fn dead_letter_topic(group: &str) -> String {
    format!("{group}.dlq")
}

/// The consumer group that marks `group`'s dead letters handled, e.g.
/// `cypher.catalog-worker.dlq-handled`: it never has members; `weft dlq replay` and
/// `weft dlq ack` commit its offsets on `<group>.dlq`, and the runtime's
/// `weft_dlq_oldest_unhandled_age_seconds` is the age of the first record after them.
pub fn dlq_handled_group(group: &str) -> String {
    format!("{group}.dlq-handled")
}

/// True when `topic` is a dead-letter topic by the naming rule.
pub fn is_dead_letter_topic(topic: &str) -> bool {
    topic.ends_with(".dlq")
}

/// A duration in the shortest whole unit: `500ms`, `10s`, `5m`, `2h`, `7d`.
pub fn short_duration(d: Duration) -> String {
    let ms = d.as_millis();
    const S: u128 = 1000;
    const M: u128 = 60 * S;
    const H: u128 = 60 * M;
    const D: u128 = 24 * H;
    match ms {
        0 => "0s".to_string(),
        ms if ms % D == 0 => format!("{}d", ms / D),
        ms if ms % H == 0 => format!("{}h", ms / H),
        ms if ms % M == 0 => format!("{}m", ms / M),
        ms if ms % S == 0 => format!("{}s", ms / S),
        ms => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_follow_the_convention() {
        assert_eq!(
            retry_topic("cypher.catalog-worker", Duration::from_secs(10)),
            "cypher.catalog-worker.retry.10s"
        );
        assert_eq!(
            retry_topic("b2b.order-service", Duration::from_secs(300)),
            "b2b.order-service.retry.5m"
        );
        assert_eq!(
            retry_topic("g", Duration::from_millis(1500)),
            "g.retry.1500ms"
        );
        assert_eq!(
            dead_letter_topic("cypher.catalog-worker"),
            "cypher.catalog-worker.dlq"
        );
        assert!(is_dead_letter_topic("cypher.catalog-worker.dlq"));
        assert!(!is_dead_letter_topic("cypher.order.created.v1"));
    }
}
