//! `category.created`, `category.updated`, `category.deleted` (payloads designed from the seed's
//! context: the seed names these events without payloads).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::Example;

/// A category was created (Avro `cypher.category.CategoryCreated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryCreated {
    /// The category; the Kafka key.
    pub category_id: String,
    /// Name.
    pub name: String,
    /// Parent; absent for a root.
    pub parent_id: Option<String>,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
    /// Who.
    pub created_by: String,
}

contract!(CategoryCreated, schema: "cypher.category.CategoryCreated", topic: "cypher.category.created.v1",
    event_type: "category.created", version: EVENT_VERSION, priority: Normal, key: category_id);

impl Example for CategoryCreated {
    fn example() -> Self {
        CategoryCreated {
            category_id: "CAT-SHELVING".into(),
            name: "Shelving".into(),
            parent_id: Some("CAT-WAREHOUSE".into()),
            created_at: ts("2026-02-01T08:00:00.000Z"),
            created_by: "user-456".into(),
        }
    }
}

/// A category was modified (Avro `cypher.category.CategoryUpdated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryUpdated {
    /// The category; the Kafka key.
    pub category_id: String,
    /// Name after the change.
    pub name: String,
    /// Parent after the change.
    pub parent_id: Option<String>,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub updated_at: DateTime<Utc>,
    /// Who.
    pub updated_by: String,
}

contract!(CategoryUpdated, schema: "cypher.category.CategoryUpdated", topic: "cypher.category.updated.v1",
    event_type: "category.updated", version: EVENT_VERSION, priority: Normal, key: category_id);

impl Example for CategoryUpdated {
    fn example() -> Self {
        CategoryUpdated {
            category_id: "CAT-SHELVING".into(),
            name: "Shelving & Racks".into(),
            parent_id: Some("CAT-WAREHOUSE".into()),
            updated_at: ts("2026-02-05T08:00:00.000Z"),
            updated_by: "user-456".into(),
        }
    }
}

/// A category was removed (Avro `cypher.category.CategoryDeleted`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryDeleted {
    /// The category; the Kafka key.
    pub category_id: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub deleted_at: DateTime<Utc>,
    /// Who.
    pub deleted_by: String,
}

contract!(CategoryDeleted, schema: "cypher.category.CategoryDeleted", topic: "cypher.category.deleted.v1",
    event_type: "category.deleted", version: EVENT_VERSION, priority: Normal, key: category_id);

impl Example for CategoryDeleted {
    fn example() -> Self {
        CategoryDeleted {
            category_id: "CAT-SHELVING".into(),
            deleted_at: ts("2026-04-01T08:00:00.000Z"),
            deleted_by: "user-456".into(),
        }
    }
}
