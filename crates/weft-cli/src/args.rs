//! Flags shared by every subcommand; each also settable by env var.

use clap::Args;
use weft_core::kafka::KafkaConfig;

/// How to reach the Kafka cluster (see docs/design.md).
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        global = true,
        env = "WEFT_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_servers: String,
    /// security.protocol: plaintext, ssl, sasl_plaintext, sasl_ssl.
    #[arg(long, global = true, env = "WEFT_SECURITY_PROTOCOL")]
    pub security_protocol: Option<String>,
    /// sasl.mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER.
    #[arg(long, global = true, env = "WEFT_SASL_MECHANISM")]
    pub sasl_mechanism: Option<String>,
    /// sasl.username.
    #[arg(long, global = true, env = "WEFT_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// sasl.password.
    #[arg(
        long,
        global = true,
        env = "WEFT_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub sasl_password: Option<String>,
    /// ssl.ca.location: CA certificate (PEM) of the brokers.
    #[arg(long, global = true, env = "WEFT_SSL_CA_LOCATION")]
    pub ssl_ca_location: Option<String>,
    /// ssl.certificate.location: client certificate for mutual TLS.
    #[arg(long, global = true, env = "WEFT_SSL_CERTIFICATE_LOCATION")]
    pub ssl_certificate_location: Option<String>,
    /// ssl.key.location: client key for mutual TLS.
    #[arg(long, global = true, env = "WEFT_SSL_KEY_LOCATION")]
    pub ssl_key_location: Option<String>,
    /// Raw librdkafka option key=value (repeatable; env: comma-separated).
    #[arg(
        long = "kafka-option",
        global = true,
        env = "WEFT_KAFKA_OPTIONS",
        value_delimiter = ','
    )]
    pub kafka_options: Vec<String>,
}

impl KafkaArgs {
    /// The clap-free settings.
    pub fn to_config(&self) -> anyhow::Result<KafkaConfig> {
        let options = self
            .kafka_options
            .iter()
            .map(|o| KafkaConfig::parse_option(o))
            .collect::<Result<_, _>>()?;
        Ok(KafkaConfig {
            bootstrap_servers: self.bootstrap_servers.clone(),
            security_protocol: self.security_protocol.clone(),
            sasl_mechanism: self.sasl_mechanism.clone(),
            sasl_username: self.sasl_username.clone(),
            sasl_password: self.sasl_password.clone(),
            ssl_ca_location: self.ssl_ca_location.clone(),
            ssl_certificate_location: self.ssl_certificate_location.clone(),
            ssl_key_location: self.ssl_key_location.clone(),
            options,
        })
    }
}
