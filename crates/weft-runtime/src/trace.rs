//! W3C trace context (`traceparent`) carried in Kafka headers.
//!
//! Each output of a processor gets a `traceparent` whose trace id is the input's and whose span id
//! is new: the processing span is a child of the producer's span. An input without a valid
//! `traceparent` starts a new trace (its trace id taken from the envelope's `trace_id` when that is
//! 32 hex digits, random otherwise). A malformed header is never an error: tracing must not turn
//! a good event into a dead letter.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use rand::Rng;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A parsed `traceparent`: version 00, trace id, parent span id, flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// 16 lowercase hex digits, not all zero.
    pub span_id: String,
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

impl TraceParent {
    /// Parses a `traceparent` header value; `None` when it is not a valid version-00 value.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let mut parts = value.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version != "00" {
            return None;
        }
        if !is_hex_id(trace, 32) || !is_hex_id(span, 16) || flags.len() != 2 {
            return None;
        }
        Some(TraceParent {
            trace_id: trace.to_string(),
            span_id: span.to_string(),
            flags: u8::from_str_radix(flags, 16).ok()?,
        })
    }

    /// A new root: the given trace id when it is valid, a random one otherwise; sampled.
    pub fn root(trace_id: Option<&str>) -> TraceParent {
        let trace_id = match trace_id {
            Some(t) if is_hex_id(t, 32) => t.to_string(),
            _ => random_hex(16),
        };
        TraceParent {
            trace_id,
            span_id: random_hex(8),
            flags: 1,
        }
    }

    /// A child span of this one: same trace and flags, new span id.
    pub fn child(&self) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id.clone(),
            span_id: random_hex(8),
            flags: self.flags,
        }
    }

    /// The header value.
    pub fn header_value(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id, self.span_id, self.flags)
    }
}

/// Makes `span` a child of the remote span `parent` in OpenTelemetry, when an OpenTelemetry layer
/// is installed (`weft` installs one when an OTLP endpoint is configured); a no-op otherwise.
pub fn set_remote_parent(span: &tracing::Span, parent: &TraceParent) {
    let (Ok(trace_id), Ok(span_id)) = (
        TraceId::from_hex(&parent.trace_id),
        SpanId::from_hex(&parent.span_id),
    ) else {
        return;
    };
    let remote = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(parent.flags),
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// The `traceparent` of `span` as OpenTelemetry sees it, when it is recorded (an OpenTelemetry
/// layer is installed and the span is enabled); `None` otherwise.
pub fn of_span(span: &tracing::Span) -> Option<TraceParent> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| TraceParent {
        trace_id: sc.trace_id().to_string(),
        span_id: sc.span_id().to_string(),
        flags: sc.trace_flags().to_u8(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_w3c_example_and_makes_a_child_in_the_same_trace() {
        let p =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(p.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(p.span_id, "00f067aa0ba902b7");
        assert_eq!(p.flags, 1);
        let c = p.child();
        assert_eq!(c.trace_id, p.trace_id);
        assert_ne!(c.span_id, p.span_id);
        assert_eq!(TraceParent::parse(&c.header_value()), Some(c));
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?} must be rejected");
        }
    }

    #[test]
    fn a_root_keeps_a_valid_envelope_trace_id_only() {
        let kept = TraceParent::root(Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(kept.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        let fresh = TraceParent::root(Some("not-a-trace-id"));
        assert!(is_hex_id(&fresh.trace_id, 32));
        assert!(is_hex_id(&fresh.span_id, 16));
    }
}
