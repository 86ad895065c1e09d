//! Topics as code: the difference between the specs and a cluster, and how to close it.
//!
//! [`plan`] reads the cluster (metadata for partition counts, DescribeConfigs for the configs weft
//! manages) and lists the changes; [`apply`] carries them out. Rules that keep apply safe:
//! - it is idempotent: a second apply plans nothing;
//! - partitions only grow; a spec with fewer partitions than the cluster is refused with an error
//!   (Kafka cannot shrink a topic), and growing one remaps keys, so the plan warns about it; a
//!   derived retry or dead-letter topic whose group's largest input shrank or went away keeps
//!   the partitions it has;
//! - a topic that belongs to a system the specs declare but has no spec is a *would delete*; it is
//!   deleted only with `allow_delete`;
//! - only the config keys a spec manages are compared; other settings are left alone. Config
//!   changes go through the AlterConfigs API (the one the rdkafka crate exposes), which *replaces*
//!   a topic's whole dynamic config set. So apply reads the topic's dynamic configs first and
//!   sends them back with the managed keys changed: an operator's override of a key no spec
//!   mentions (say `max.message.bytes` set with Kafka's `ConfigCommand`) survives. The read and
//!   the write are two calls: an override set by someone else between the two is lost (the window
//!   is one round trip); a sensitive dynamic config, whose value the broker does not return, makes
//!   apply refuse the change rather than drop it.
//!
//! Failure modes: a cluster that lacks an admin API (CreatePartitions, AlterConfigs) makes the
//! corresponding change fail with [`CoreError::Unsupported`]-style Kafka errors naming the
//! operation; nothing else in the same apply is rolled back, and the next plan shows what is left.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::KafkaConfig;
use crate::spec::TopicSpec;
use crate::CoreError;

/// How specs are adapted to the cluster they are applied to.
#[derive(Debug, Clone, Default)]
pub struct ProvisionOptions {
    /// Clamp replication factor (and min.insync.replicas) to this, for a small dev cluster.
    pub max_replication_factor: Option<i32>,
    /// Delete topics of a declared system that have no spec.
    pub allow_delete: bool,
}

/// One difference between specs and cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create {
        topic: String,
        partitions: i32,
        replication_factor: i32,
        configs: BTreeMap<String, String>,
    },
    AlterConfigs {
        topic: String,
        /// key -> (current value, if any; desired value)
        diffs: BTreeMap<String, (Option<String>, String)>,
        /// The complete managed set to send.
        desired: BTreeMap<String, String>,
    },
    AddPartitions {
        topic: String,
        from: i32,
        to: i32,
    },
    DecreasePartitions {
        topic: String,
        from: i32,
        to: i32,
    },
    WouldDelete {
        topic: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Create {
                topic,
                partitions,
                replication_factor,
                configs,
            } => {
                write!(f, "+ create {topic} (partitions {partitions}, replication {replication_factor}")?;
                for (k, v) in configs {
                    write!(f, ", {k}={v}")?;
                }
                write!(f, ")")
            }
            Change::AlterConfigs { topic, diffs, .. } => {
                write!(f, "~ alter {topic}:")?;
                for (k, (cur, want)) in diffs {
                    write!(f, " {k}: {} -> {want};", cur.as_deref().unwrap_or("(unset)"))?;
                }
                Ok(())
            }
            Change::AddPartitions { topic, from, to } => write!(
                f,
                "~ add partitions {topic}: {from} -> {to} (warning: keys remap to other partitions, per-key order breaks across the change)"
            ),
            Change::DecreasePartitions { topic, from, to } => write!(
                f,
                "! refuse {topic}: partitions {from} -> {to} (Kafka cannot decrease partitions; create a new topic version instead)"
            ),
            Change::WouldDelete { topic } => write!(f, "- would delete {topic} (no spec; needs --allow-delete)"),
        }
    }
}

/// The changes needed to make the cluster match the specs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    /// True when the cluster already matches the specs.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "no changes: the cluster matches the specs");
        }
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}

/// What one apply did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub applied: Vec<Change>,
}

/// Talks to the cluster for plan and apply.
pub struct Provisioner {
    admin: AdminClient<DefaultClientContext>,
    kafka: KafkaConfig,
    options: ProvisionOptions,
    timeout: Duration,
}

struct ClusterTopic {
    partitions: i32,
}

fn kafka_err(op: &str, e: KafkaError) -> CoreError {
    CoreError::kafka(op, e)
}

impl Provisioner {
    /// Connects an admin client with `kafka`'s settings.
    pub fn new(kafka: &KafkaConfig, options: ProvisionOptions) -> Result<Self, CoreError> {
        let admin = kafka
            .client_config()
            .create()
            .map_err(|e| kafka_err("creating the admin client", e))?;
        Ok(Provisioner {
            admin,
            kafka: kafka.clone(),
            options,
            timeout: Duration::from_secs(30),
        })
    }

    fn admin_options(&self) -> AdminOptions {
        AdminOptions::new().operation_timeout(Some(self.timeout))
    }

    fn cluster_topics(&self) -> Result<BTreeMap<String, ClusterTopic>, CoreError> {
        let md = self
            .admin
            .inner()
            .fetch_metadata(None, self.timeout)
            .map_err(|e| {
                kafka_err(
                    &format!("reading metadata from {}", self.kafka.bootstrap_servers),
                    e,
                )
            })?;
        Ok(md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| {
                (
                    t.name().to_string(),
                    ClusterTopic {
                        partitions: t.partitions().len() as i32,
                    },
                )
            })
            .collect())
    }

    async fn describe(
        &self,
        topics: &[&str],
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, CoreError> {
        if topics.is_empty() {
            return Ok(BTreeMap::new());
        }
        let specs: Vec<ResourceSpecifier> =
            topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
        let results = self
            .admin
            .describe_configs(specs.iter(), &self.admin_options())
            .await
            .map_err(|e| kafka_err("DescribeConfigs", e))?;
        let mut out = BTreeMap::new();
        for (topic, result) in topics.iter().zip(results) {
            let resource = result.map_err(|e| CoreError::Kafka {
                operation: format!("DescribeConfigs for {topic}"),
                message: e.to_string(),
            })?;
            let entries = resource
                .entries
                .iter()
                .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
                .collect();
            out.insert(topic.to_string(), entries);
        }
        Ok(out)
    }

    /// The topic's dynamic configs (set on the topic itself, by anyone): what AlterConfigs must
    /// send back so that it does not reset them.
    async fn dynamic_configs(&self, topic: &str) -> Result<BTreeMap<String, String>, CoreError> {
        let op = format!("DescribeConfigs for {topic}");
        let results = self
            .admin
            .describe_configs([&ResourceSpecifier::Topic(topic)], &self.admin_options())
            .await
            .map_err(|e| kafka_err(&op, e))?;
        let mut out = BTreeMap::new();
        for result in results {
            let resource = result.map_err(|e| CoreError::Kafka {
                operation: op.clone(),
                message: e.to_string(),
            })?;
            for e in resource.entries {
                if e.source != ConfigSource::DynamicTopic {
                    continue;
                }
                match e.value {
                    Some(v) if !e.is_sensitive => {
                        out.insert(e.name, v);
                    }
                    _ => {
                        return Err(CoreError::Refused(format!(
                            "{topic} has a sensitive dynamic config {} whose value the broker \
                             does not return; AlterConfigs would drop it, so apply changes nothing",
                            e.name
                        )))
                    }
                }
            }
        }
        Ok(out)
    }

    fn adapt(&self, spec: &TopicSpec) -> (i32, BTreeMap<String, String>) {
        let mut rf = spec.replication_factor;
        let mut configs = spec.topic_configs();
        if let Some(max) = self.options.max_replication_factor {
            rf = rf.min(max);
            if let Some(m) = spec.min_insync_replicas {
                configs.insert("min.insync.replicas".into(), m.min(rf).to_string());
            }
        }
        (rf, configs)
    }

    /// Compares `specs` with the cluster.
    pub async fn plan(&self, specs: &[TopicSpec]) -> Result<Plan, CoreError> {
        let cluster = self.cluster_topics()?;
        let existing: Vec<&str> = specs
            .iter()
            .filter(|s| cluster.contains_key(&s.name))
            .map(|s| s.name.as_str())
            .collect();
        let described = self.describe(&existing).await?;
        let mut changes = Vec::new();
        for spec in specs {
            let (rf, desired) = self.adapt(spec);
            match cluster.get(&spec.name) {
                None => changes.push(Change::Create {
                    topic: spec.name.clone(),
                    partitions: spec.partitions,
                    replication_factor: rf,
                    configs: desired,
                }),
                Some(current) => {
                    if spec.partitions > current.partitions {
                        changes.push(Change::AddPartitions {
                            topic: spec.name.clone(),
                            from: current.partitions,
                            to: spec.partitions,
                        });
                    } else if spec.partitions < current.partitions
                        && spec.path.as_os_str().is_empty()
                    {
                        // A derived retry/dead-letter topic follows its group's largest input;
                        // when that input goes away it keeps the partitions it has (its records
                        // keep their partitions; nothing to refuse).
                    } else if spec.partitions < current.partitions {
                        changes.push(Change::DecreasePartitions {
                            topic: spec.name.clone(),
                            from: current.partitions,
                            to: spec.partitions,
                        });
                    }
                    let actual = described.get(&spec.name).cloned().unwrap_or_default();
                    let diffs: BTreeMap<_, _> = desired
                        .iter()
                        .filter(|(k, v)| actual.get(*k) != Some(*v))
                        .map(|(k, v)| (k.clone(), (actual.get(k).cloned(), v.clone())))
                        .collect();
                    if !diffs.is_empty() {
                        changes.push(Change::AlterConfigs {
                            topic: spec.name.clone(),
                            diffs,
                            desired,
                        });
                    }
                }
            }
        }
        let declared: BTreeSet<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        let systems: BTreeSet<&str> = specs
            .iter()
            .filter_map(|s| s.name.split('.').next())
            .collect();
        for name in cluster.keys() {
            let system = name.split('.').next().unwrap_or_default();
            if !declared.contains(name.as_str())
                && systems.contains(system)
                && !name.starts_with('_')
            {
                changes.push(Change::WouldDelete {
                    topic: name.clone(),
                });
            }
        }
        Ok(Plan { changes })
    }

    /// Carries out `plan`. A plan that decreases partitions is refused whole, before anything
    /// changes. Deletions happen only with `allow_delete`; without it they are skipped (and left
    /// in the plan), so a stray topic never blocks provisioning.
    pub async fn apply(&self, plan: &Plan) -> Result<ApplyReport, CoreError> {
        let refused: Vec<String> = plan
            .changes
            .iter()
            .filter(|c| matches!(c, Change::DecreasePartitions { .. }))
            .map(|c| c.to_string())
            .collect();
        if !refused.is_empty() {
            return Err(CoreError::Refused(refused.join("; ")));
        }
        let mut report = ApplyReport::default();
        let opts = self.admin_options();
        for change in &plan.changes {
            match change {
                Change::Create {
                    topic,
                    partitions,
                    replication_factor,
                    configs,
                } => {
                    let mut new = NewTopic::new(
                        topic,
                        *partitions,
                        TopicReplication::Fixed(*replication_factor),
                    );
                    for (k, v) in configs {
                        new = new.set(k, v);
                    }
                    let res = self
                        .admin
                        .create_topics([&new], &opts)
                        .await
                        .map_err(|e| kafka_err("CreateTopics", e))?;
                    for r in res {
                        match r {
                            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                            Err((t, code)) => {
                                return Err(CoreError::Kafka {
                                    operation: format!("creating {t}"),
                                    message: code.to_string(),
                                })
                            }
                        }
                    }
                }
                Change::AlterConfigs { topic, desired, .. } => {
                    let mut full = self.dynamic_configs(topic).await?;
                    full.extend(desired.iter().map(|(k, v)| (k.clone(), v.clone())));
                    let mut alter = AlterConfig::new(ResourceSpecifier::Topic(topic));
                    for (k, v) in &full {
                        alter = alter.set(k, v);
                    }
                    let res = self
                        .admin
                        .alter_configs([&alter], &opts)
                        .await
                        .map_err(|e| kafka_err(&format!("AlterConfigs for {topic}"), e))?;
                    for r in res {
                        r.map_err(|(_, code)| CoreError::Kafka {
                            operation: format!("AlterConfigs for {topic}"),
                            message: code.to_string(),
                        })?;
                    }
                }
                Change::AddPartitions { topic, to, .. } => {
                    let np = NewPartitions::new(topic, *to as usize);
                    let res = self
                        .admin
                        .create_partitions([&np], &opts)
                        .await
                        .map_err(|e| kafka_err(&format!("CreatePartitions for {topic}"), e))?;
                    for r in res {
                        r.map_err(|(_, code)| CoreError::Kafka {
                            operation: format!("CreatePartitions for {topic}"),
                            message: code.to_string(),
                        })?;
                    }
                }
                Change::WouldDelete { topic } => {
                    if !self.options.allow_delete {
                        continue;
                    }
                    let res = self
                        .admin
                        .delete_topics(&[topic.as_str()], &opts)
                        .await
                        .map_err(|e| kafka_err(&format!("DeleteTopics for {topic}"), e))?;
                    for r in res {
                        r.map_err(|(_, code)| CoreError::Kafka {
                            operation: format!("deleting {topic}"),
                            message: code.to_string(),
                        })?;
                    }
                }
                Change::DecreasePartitions { .. } => unreachable!("refused above"),
            }
            report.applied.push(change.clone());
        }
        Ok(report)
    }
}
