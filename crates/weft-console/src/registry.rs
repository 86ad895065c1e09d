//! The schema registry as the console uses it: decode any Confluent-framed value to JSON, fetch
//! a topic's value schema (`<topic>-value`, TopicNameStrategy) and encode Avro values under it.
//!
//! Failure modes: an unreachable registry or an unknown schema id makes [`Registry::decode`]
//! return `Err(note)`; callers show the raw bytes with that note instead of stopping. Fetching a
//! schema for produce fails with [`ConsoleError::Registry`] (nothing is produced).

use std::sync::Arc;

use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::avro_common::AvroSchema;
use schema_registry_converter::schema_registry_common::SubjectNameStrategy;
use serde_json::Value as Json;

use crate::avrojson;
use crate::error::{ConsoleError, Result};

/// Default registry URL (`--registry-url`, `WEFT_REGISTRY_URL`).
pub const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:8081";

/// A client of one schema registry with schema caches.
pub struct Registry {
    url: String,
    decoder: AvroDecoder,
    encoder: AvroEncoder,
}

impl Registry {
    /// A client for the registry at `url`.
    pub fn new(url: &str) -> Result<Self> {
        Self::with_auth(url, None)
    }

    /// A client for the registry at `url` with HTTP basic `auth` (user, password) when given.
    pub fn with_auth(url: &str, auth: Option<(&str, &str)>) -> Result<Self> {
        let settings = || {
            let mut builder = SrSettings::new_builder(url.trim_end_matches('/').to_string());
            builder.set_timeout(std::time::Duration::from_secs(10));
            if let Some((user, password)) = auth {
                builder.set_basic_authorization(user, Some(password));
            }
            builder.build().map_err(|e| ConsoleError::Registry {
                url: url.to_string(),
                message: e.error.clone(),
            })
        };
        Ok(Registry {
            url: url.to_string(),
            decoder: AvroDecoder::new(settings()?),
            encoder: AvroEncoder::new(settings()?),
        })
    }

    /// The registry URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Decodes a Confluent-framed Avro value to plain JSON with its schema id, or says why not.
    pub async fn decode(&self, bytes: &[u8]) -> std::result::Result<(u32, Json), String> {
        let (id, _) = weft_core::wire::split(bytes).map_err(|e| e.to_string())?;
        match self.decoder.decode_with_schema(Some(bytes)).await {
            Ok(Some(d)) => Ok((id, avrojson::to_json(&d.value, &d.schema.parsed))),
            Ok(None) => Err("the value is null".into()),
            Err(e) => Err(format!(
                "schema id {id} could not be decoded through {}: {}{}",
                self.url,
                e.error,
                e.cause.map(|c| format!(" ({c})")).unwrap_or_default()
            )),
        }
    }

    /// The latest value schema of `topic` (subject `<topic>-value`).
    pub async fn value_schema(&self, topic: &str) -> Result<Arc<AvroSchema>> {
        let subject = format!("{topic}-value");
        self.encoder
            .get_schema_and_id(
                &subject,
                SubjectNameStrategy::TopicNameStrategy(topic.to_string(), false),
            )
            .await
            .map_err(|e| ConsoleError::Registry {
                url: self.url.clone(),
                message: format!(
                    "no usable schema under subject {subject}: {}{}",
                    e.error,
                    e.cause.map(|c| format!(" ({c})")).unwrap_or_default()
                ),
            })
    }

    /// Encodes a record value under `<topic>-value`, framed with its schema id.
    pub async fn encode(&self, topic: &str, value: apache_avro::types::Value) -> Result<Vec<u8>> {
        self.encoder
            .encode_value(
                value,
                &SubjectNameStrategy::TopicNameStrategy(topic.to_string(), false),
            )
            .await
            .map_err(|e| ConsoleError::Registry {
                url: self.url.clone(),
                message: format!(
                    "encoding for {topic}-value failed: {}{}",
                    e.error,
                    e.cause.map(|c| format!(" ({c})")).unwrap_or_default()
                ),
            })
    }
}
