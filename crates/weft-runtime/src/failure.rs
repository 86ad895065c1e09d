//! Where a failed input goes: the group's next retry tier, or its dead-letter topic. Pure: the
//! transaction loop produces the returned record in the same transaction that commits the input's
//! offset, so a failure is never lost and never handled twice.
//!
//! - `poison` and `undecodable` go straight to the dead-letter topic;
//! - `transient` goes to retry tier `n` (its `n`-th failure, counted in `weft-dlq-attempt`) with
//!   `weft-retry-due` = now + the tier's delay; after the last tier, to the dead-letter topic;
//! - the record keeps its original key and bytes; its headers keep everything but weft's own
//!   failure headers, which are written anew: source topic/partition/offset (the first ones, for
//!   a record that already went through a retry topic), class, message, attempt, processor, first
//!   and last failure time;
//! - a record replayed from the dead-letter topic (its `weft-dlq-attempt` carried) that fails again
//!   returns to the dead-letter topic with the count increased.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use weft_core::headers as h;

use crate::processor::{Output, ProcessError, Record};

/// A group's retry tiers and dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailurePolicy {
    /// The processor named in the failure headers.
    pub processor: String,
    /// One `(delay, topic)` per tier, in order.
    pub retry_tiers: Vec<(Duration, String)>,
    /// The dead-letter topic.
    pub dead_letter_topic: String,
    /// The parking topic, when the group keeps per-key order (see [`crate::parking`]).
    pub parking_topic: Option<String>,
}

/// What happened to a failed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Sent to the retry tier with this index.
    Retry(usize),
    /// Sent to the dead-letter topic.
    DeadLetter,
}

fn header<'a>(record: &'a Record<'_>, name: &str) -> Option<&'a str> {
    record
        .headers
        .iter()
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// The failures this record had before (its `weft-dlq-attempt`, 0 when absent).
pub fn previous_attempts(record: &Record<'_>) -> u32 {
    header(record, h::DLQ_ATTEMPT)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0)
}

/// When a record from a retry topic may be processed (`weft-retry-due`, epoch milliseconds).
pub fn retry_due(record: &Record<'_>) -> Option<DateTime<Utc>> {
    header(record, h::RETRY_DUE)
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
}

/// The record to produce for `record`, which failed with `err` at `now`, and where it goes.
pub fn route(
    policy: &FailurePolicy,
    record: &Record<'_>,
    err: &ProcessError,
    now: DateTime<Utc>,
) -> (Output, Route) {
    let attempt = previous_attempts(record) + 1;
    let route = match err {
        ProcessError::Transient(_) if (attempt as usize) <= policy.retry_tiers.len() => {
            Route::Retry(attempt as usize - 1)
        }
        _ => Route::DeadLetter,
    };
    let now_text = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let first = header(record, h::DLQ_SOURCE_TOPIC).is_none();
    let keep_or = |name: &str, fresh: String| {
        if first {
            fresh
        } else {
            header(record, name).map(str::to_string).unwrap_or(fresh)
        }
    };
    let mut headers: Vec<(String, Vec<u8>)> = record
        .headers
        .iter()
        .filter(|(k, _)| !k.starts_with("weft-dlq-") && *k != h::RETRY_DUE && *k != h::PARKED)
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    let mut fields = vec![
        (
            h::DLQ_SOURCE_TOPIC,
            keep_or(h::DLQ_SOURCE_TOPIC, record.topic.to_string()),
        ),
        (
            h::DLQ_SOURCE_PARTITION,
            keep_or(h::DLQ_SOURCE_PARTITION, record.partition.to_string()),
        ),
        (
            h::DLQ_SOURCE_OFFSET,
            keep_or(h::DLQ_SOURCE_OFFSET, record.offset.to_string()),
        ),
        (h::DLQ_ERROR_CLASS, err.class().to_string()),
        (h::DLQ_ERROR_MESSAGE, err.message().to_string()),
        (h::DLQ_ATTEMPT, attempt.to_string()),
        (h::DLQ_PROCESSOR, policy.processor.clone()),
        (
            h::DLQ_FIRST_FAILURE,
            header(record, h::DLQ_FIRST_FAILURE)
                .map(str::to_string)
                .unwrap_or_else(|| now_text.clone()),
        ),
        (h::DLQ_LAST_FAILURE, now_text),
    ];
    let topic = match route {
        Route::Retry(tier) => {
            let (delay, topic) = &policy.retry_tiers[tier];
            fields.push((
                h::RETRY_DUE,
                due_after(now, delay).timestamp_millis().to_string(),
            ));
            topic.clone()
        }
        Route::DeadLetter => policy.dead_letter_topic.clone(),
    };
    headers.extend(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_bytes())),
    );
    let output = Output {
        topic,
        key: record.key.map(<[u8]>::to_vec),
        value: record.value.map(<[u8]>::to_vec).unwrap_or_default(),
        headers,
        // Retry and dead-letter topics have the inputs' partition count: the record keeps its
        // partition number, so it stays with its key whatever partitioner wrote the input.
        partition: Some(record.partition),
    };
    (output, route)
}

/// When a record sent to a tier of `delay` at `now` is due.
pub fn due_after(now: DateTime<Utc>, delay: &std::time::Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::MAX)
}

/// The record that parks `record` behind an earlier record of its key: it goes to the first retry
/// tier, due at `due` (see [`crate::parking::Parking::park_due`]), keeping its key, bytes and
/// headers, with its source (topic, partition, offset: its identity while it waits) and
/// `weft-parked`. It is not a failure: its attempt count does not change.
pub fn park(policy: &FailurePolicy, record: &Record<'_>, due: DateTime<Utc>) -> Option<Output> {
    let (_, topic) = policy.retry_tiers.first()?;
    let mut headers: Vec<(String, Vec<u8>)> = record
        .headers
        .iter()
        .filter(|(k, _)| *k != h::RETRY_DUE && *k != h::PARKED)
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    if header(record, h::DLQ_SOURCE_TOPIC).is_none() {
        headers.push((h::DLQ_SOURCE_TOPIC.into(), record.topic.as_bytes().to_vec()));
        headers.push((
            h::DLQ_SOURCE_PARTITION.into(),
            record.partition.to_string().into_bytes(),
        ));
        headers.push((
            h::DLQ_SOURCE_OFFSET.into(),
            record.offset.to_string().into_bytes(),
        ));
    }
    headers.push((
        h::RETRY_DUE.into(),
        due.timestamp_millis().to_string().into_bytes(),
    ));
    headers.push((h::PARKED.into(), b"true".to_vec()));
    Some(Output {
        topic: topic.clone(),
        key: record.key.map(<[u8]>::to_vec),
        value: record.value.map(<[u8]>::to_vec).unwrap_or_default(),
        headers,
        partition: Some(record.partition),
    })
}

/// The identity of a record across the retry tiers: its first source `topic/partition/offset`.
pub fn source_id(record: &Record<'_>) -> String {
    match (
        header(record, h::DLQ_SOURCE_TOPIC),
        header(record, h::DLQ_SOURCE_PARTITION),
        header(record, h::DLQ_SOURCE_OFFSET),
    ) {
        (Some(t), Some(p), Some(o)) => format!("{t}/{p}/{o}"),
        _ => format!("{}/{}/{}", record.topic, record.partition, record.offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FailurePolicy {
        FailurePolicy {
            parking_topic: None,
            processor: "b2b.email-service".into(),
            retry_tiers: vec![
                (Duration::from_secs(1), "b2b.email-service.retry.1s".into()),
                (Duration::from_secs(2), "b2b.email-service.retry.2s".into()),
            ],
            dead_letter_topic: "b2b.email-service.dlq".into(),
        }
    }

    fn get<'a>(out: &'a Output, name: &str) -> Option<&'a str> {
        out.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| std::str::from_utf8(v).unwrap())
    }

    fn as_record(out: &Output, offset: i64) -> (String, Vec<(String, Vec<u8>)>, i64) {
        (out.topic.clone(), out.headers.clone(), offset)
    }

    #[test]
    fn transient_failures_walk_the_tiers_then_dead_letter_keeping_the_first_source() {
        let p = policy();
        let now = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        let original = Record {
            topic: "b2b.order.placed.v1",
            partition: 2,
            offset: 41,
            key: Some(b"order-1"),
            value: Some(b"\0\0\0\0\x01body"),
            headers: vec![("traceparent", b"00-x".as_slice())],
        };
        let err = ProcessError::Transient("smtp timeout".into());
        let (first, r1) = route(&p, &original, &err, now);
        assert_eq!(r1, Route::Retry(0));
        assert_eq!(first.topic, "b2b.email-service.retry.1s");
        assert_eq!(first.value, original.value.unwrap());
        assert_eq!(first.key.as_deref(), Some(b"order-1".as_slice()));
        assert_eq!(get(&first, h::RETRY_DUE), Some("1700000001000"));
        assert_eq!(get(&first, h::DLQ_ATTEMPT), Some("1"));
        assert_eq!(get(&first, "traceparent"), Some("00-x"));

        let (topic, headers, offset) = as_record(&first, 7);
        let hdrs: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        let retried = Record {
            topic: &topic,
            partition: 0,
            offset,
            key: first.key.as_deref(),
            value: Some(&first.value),
            headers: hdrs,
        };
        assert_eq!(previous_attempts(&retried), 1);
        assert_eq!(
            retry_due(&retried).unwrap().timestamp_millis(),
            1_700_000_001_000
        );
        let later = now + chrono::Duration::seconds(5);
        let (second, r2) = route(&p, &retried, &err, later);
        assert_eq!(r2, Route::Retry(1));
        assert_eq!(second.topic, "b2b.email-service.retry.2s");
        assert_eq!(
            get(&second, h::DLQ_SOURCE_TOPIC),
            Some("b2b.order.placed.v1")
        );
        assert_eq!(get(&second, h::DLQ_SOURCE_OFFSET), Some("41"));
        assert_eq!(
            get(&second, h::DLQ_FIRST_FAILURE),
            get(&first, h::DLQ_FIRST_FAILURE)
        );
        assert_eq!(
            second
                .headers
                .iter()
                .filter(|(k, _)| k == h::RETRY_DUE)
                .count(),
            1,
            "the old due time must not be carried"
        );

        let (topic, headers, offset) = as_record(&second, 3);
        let hdrs: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        let third_in = Record {
            topic: &topic,
            partition: 0,
            offset,
            key: second.key.as_deref(),
            value: Some(&second.value),
            headers: hdrs,
        };
        let (dead, r3) = route(&p, &third_in, &err, later);
        assert_eq!(r3, Route::DeadLetter);
        assert_eq!(dead.topic, "b2b.email-service.dlq");
        assert_eq!(get(&dead, h::DLQ_ATTEMPT), Some("3"));
        assert_eq!(get(&dead, h::DLQ_ERROR_CLASS), Some("transient"));
        assert_eq!(get(&dead, h::RETRY_DUE), None);
        assert_eq!(get(&dead, h::DLQ_PROCESSOR), Some("b2b.email-service"));
    }

    #[test]
    fn poison_and_undecodable_skip_the_retry_tiers() {
        let p = policy();
        let record = Record {
            topic: "b2b.order.placed.v1",
            partition: 0,
            offset: 0,
            key: None,
            value: Some(b"junk"),
            headers: vec![],
        };
        for err in [
            ProcessError::Poison("no lines".into()),
            ProcessError::Undecodable("bad magic byte".into()),
        ] {
            let (out, r) = route(&p, &record, &err, Utc::now());
            assert_eq!(r, Route::DeadLetter);
            assert_eq!(out.topic, "b2b.email-service.dlq");
            assert_eq!(out.value, b"junk");
            assert_eq!(get(&out, h::DLQ_ERROR_CLASS), Some(err.class()));
            assert_eq!(get(&out, h::DLQ_ATTEMPT), Some("1"));
        }
    }
}
