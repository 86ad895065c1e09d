//! `task.completed`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

/// A project task was completed (Avro `collector.task.TaskCompleted`, seed 001 schema 9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCompleted {
    /// The task (UUID); the Kafka key.
    pub task_id: String,
    /// Task name.
    pub task_name: String,
    /// Project (UUID).
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// Person who did it (UUID).
    pub assigned_resource_id: Option<String>,
    /// Estimated hours.
    pub estimated_hours: Option<Decimal4>,
    /// Booked hours.
    pub actual_hours: Option<Decimal4>,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub completed_at: DateTime<Utc>,
}

contract!(TaskCompleted, schema: "collector.task.TaskCompleted", topic: "collector.task.completed.v1",
    event_type: "task.completed", version: EVENT_VERSION, priority: Normal, key: task_id);

impl Example for TaskCompleted {
    fn example() -> Self {
        TaskCompleted {
            task_id: "aa11bb22-cc33-4d44-8e55-ff6677889900".into(),
            task_name: "Implement Feature X".into(),
            project_id: "bb22cc33-dd44-4e55-9f66-007788990011".into(),
            project_name: "Project Alpha".into(),
            assigned_resource_id: Some("cc33dd44-ee55-4f66-a077-118899001122".into()),
            estimated_hours: Some(dec("8")),
            actual_hours: Some(dec("10")),
            completed_at: ts("2024-01-15T17:00:00.000Z"),
        }
    }
}
