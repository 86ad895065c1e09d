//! Kafka client settings shared by every weft binary.
//!
//! Each setting has a flag and an env var in the CLI (see `docs/design.md`); this struct is the
//! clap-free form. Typed SASL/TLS fields cover the common cases; anything else passes through to
//! librdkafka untouched via [`KafkaConfig::options`], and a raw option wins over a typed one.

use std::time::{Duration, Instant};

use rdkafka::client::Client;
use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, TopicPartitionList};

use crate::CoreError;

/// True for the answers a Kafka cluster gives while it moves or loads a coordinator or a
/// partition leader (a fresh cluster creating `__consumer_offsets`, a broker restarting): the
/// same call succeeds a moment later.
pub fn is_transient(e: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        e.rdkafka_error_code(),
        Some(
            NotCoordinator
                | CoordinatorLoadInProgress
                | CoordinatorNotAvailable
                | NotLeaderForPartition
                | LeaderNotAvailable
                | RequestTimedOut
                | OperationTimedOut
                | NetworkException
                | BrokerTransportFailure
                | AllBrokersDown
                | UnstableOffsetCommit
        )
    )
}

/// A group's committed offsets for `tpl`, retrying transient answers (see [`is_transient`])
/// with a growing pause until `timeout` has passed; any other error, or the last transient one,
/// is returned.
pub fn committed_offsets<C, X>(
    consumer: &C,
    tpl: &TopicPartitionList,
    timeout: Duration,
) -> KafkaResult<TopicPartitionList>
where
    C: Consumer<X>,
    X: ConsumerContext,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(50);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.committed_offsets(tpl.clone(), left.max(Duration::from_millis(100))) {
            Err(e) if is_transient(&e) && Instant::now() + pause < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

/// Waits until every record handed to a producer has been delivered (or has failed) and its
/// delivery report has been served, for at most `timeout`; `linger.ms` counts as elapsed
/// meanwhile.
///
/// For producers whose delivery reports a background thread serves (`ThreadedProducer`,
/// `FutureProducer`): librdkafka then only waits on a condition for the count of records in
/// flight to reach zero, and returns the moment it does. rust-rdkafka's own `flush` (which its
/// `commit_transaction` calls first) instead polls the event queue in slices that each last
/// their full 100 ms, so a commit with one record still in flight waited at least 100 ms: half
/// the commits of a busy exactly-once loop did (measured: commits of 105-130 ms against 5-25 ms,
/// docs/performance.md). Calling this first leaves that flush nothing to wait for.
///
/// Do not use it on a `BaseProducer` that nobody polls meanwhile: its reports would never be
/// served and it waits out `timeout`.
#[allow(unsafe_code)]
pub fn flush_in_flight<C: ClientContext>(client: &Client<C>, timeout: Duration) -> KafkaResult<()> {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `client` owns the live handle for the duration of this borrow, and
    // `rd_kafka_flush` may be called from any thread.
    let code = unsafe { rdkafka::bindings::rd_kafka_flush(client.native_ptr(), ms) };
    match RDKafkaErrorCode::from(code) {
        RDKafkaErrorCode::NoError => Ok(()),
        other => Err(KafkaError::Flush(other)),
    }
}

/// How to reach and authenticate to a Kafka cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092`.
    pub bootstrap_servers: String,
    /// `security.protocol`: plaintext, ssl, sasl_plaintext or sasl_ssl.
    pub security_protocol: Option<String>,
    /// `sasl.mechanism`: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER.
    pub sasl_mechanism: Option<String>,
    /// `sasl.username`.
    pub sasl_username: Option<String>,
    /// `sasl.password`.
    pub sasl_password: Option<String>,
    /// `ssl.ca.location`: PEM file of the CA that signed the brokers' certificates.
    pub ssl_ca_location: Option<String>,
    /// `ssl.certificate.location`: client certificate for mutual TLS.
    pub ssl_certificate_location: Option<String>,
    /// `ssl.key.location`: client key for mutual TLS.
    pub ssl_key_location: Option<String>,
    /// Raw librdkafka options, applied last.
    pub options: Vec<(String, String)>,
}

impl KafkaConfig {
    /// The project's local development broker on 127.0.0.1:9092.
    pub fn local() -> Self {
        Self::with_bootstrap("127.0.0.1:9092")
    }

    /// Plaintext settings for `bootstrap_servers`.
    pub fn with_bootstrap(bootstrap_servers: &str) -> Self {
        KafkaConfig {
            bootstrap_servers: bootstrap_servers.to_string(),
            ..Default::default()
        }
    }

    /// Parses `key=value` pairs separated by commas or newlines (the `WEFT_KAFKA_OPTIONS` form).
    pub fn parse_options(raw: &str) -> Result<Vec<(String, String)>, CoreError> {
        raw.split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Self::parse_option)
            .collect()
    }

    /// Parses one `key=value` librdkafka option.
    pub fn parse_option(pair: &str) -> Result<(String, String), CoreError> {
        match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(CoreError::InvalidSetting(format!(
                "Kafka option `{pair}` is not of the form key=value"
            ))),
        }
    }

    /// The librdkafka configuration for these settings; callers add their role's options.
    pub fn client_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.bootstrap_servers);
        let typed = [
            ("security.protocol", &self.security_protocol),
            ("sasl.mechanism", &self.sasl_mechanism),
            ("sasl.username", &self.sasl_username),
            ("sasl.password", &self.sasl_password),
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
        ];
        for (key, value) in typed {
            if let Some(v) = value {
                cfg.set(key, v);
            }
        }
        for (k, v) in &self.options {
            cfg.set(k, v);
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::producer::BaseProducer;

    #[test]
    fn options_parse_and_bad_ones_are_named() {
        let opts = KafkaConfig::parse_options("linger.ms=5, acks=all\nclient.id=x").unwrap();
        assert_eq!(opts.len(), 3);
        assert_eq!(opts[1], ("acks".into(), "all".into()));
        let err = KafkaConfig::parse_options("linger.ms").unwrap_err();
        assert!(err.to_string().contains("`linger.ms`"), "{err}");
    }

    /// The SASL/TLS settings reach librdkafka, and librdkafka (built with TLS) accepts them:
    /// creating a client validates every property, so an unknown or unsupported one fails here.
    #[test]
    fn sasl_and_tls_settings_reach_librdkafka() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "").unwrap();
        let cfg = KafkaConfig {
            bootstrap_servers: "127.0.0.1:1".into(),
            security_protocol: Some("sasl_ssl".into()),
            sasl_mechanism: Some("SCRAM-SHA-512".into()),
            sasl_username: Some("weft".into()),
            sasl_password: Some("secret".into()),
            options: vec![("client.id".into(), "tls-check".into())],
            ..Default::default()
        };
        let client = cfg.client_config();
        assert_eq!(client.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(client.get("sasl.username"), Some("weft"));
        assert_eq!(client.get("client.id"), Some("tls-check"));
        // Without a CA file configured librdkafka falls back to the system store; both must build.
        client
            .create::<BaseProducer>()
            .expect("librdkafka must accept sasl_ssl with SCRAM (built with TLS support)");
        let mut with_ca = cfg.clone();
        with_ca.security_protocol = Some("ssl".into());
        with_ca.sasl_mechanism = None;
        with_ca.ssl_ca_location = Some(ca.display().to_string());
        assert_eq!(
            with_ca.client_config().get("ssl.ca.location"),
            Some(ca.to_str().unwrap())
        );
        // An option librdkafka does not know is rejected by librdkafka itself.
        let mut bad = KafkaConfig::with_bootstrap("127.0.0.1:1");
        bad.options.push(("no.such.option".into(), "1".into()));
        assert!(bad.client_config().create::<BaseProducer>().is_err());
    }
}
