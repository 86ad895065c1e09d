//! `product.created` (internal; payload designed from the seed's context) and `product.updated`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{StockStatus, EVENT_VERSION};
use crate::macros::contract;
use crate::time::ts;
use crate::Example;

/// A product was created (Avro `cypher.product.ProductCreated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductCreated {
    /// Catalog product id; the Kafka key.
    pub product_id: String,
    /// Stock keeping unit.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Catalog status.
    pub status: String,
    /// Visibility.
    pub visibility: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
    /// Who.
    pub created_by: String,
}

contract!(ProductCreated, schema: "cypher.product.ProductCreated", topic: "cypher.product.created.v1",
    event_type: "product.created", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for ProductCreated {
    fn example() -> Self {
        ProductCreated {
            product_id: "PRD-00123".into(),
            sku: "PRD-001-A".into(),
            name: "Industrial Shelf 120cm".into(),
            status: "active".into(),
            visibility: "catalog_and_search".into(),
            created_at: ts("2026-02-10T09:00:00.000Z"),
            created_by: "user-456".into(),
        }
    }
}

crate::avro_enum! {
    /// What changed in a product.
    pub enum ProductChangeType {
        NameChanged = "name_changed", DescriptionChanged = "description_changed",
        StatusChanged = "status_changed", VisibilityChanged = "visibility_changed",
        PriceChanged = "price_changed", StockStatusChanged = "stock_status_changed";
        default Unknown = "unknown"
    }
}

/// The product after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductSnapshot {
    /// Catalog product id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Catalog status.
    pub status: String,
    /// Visibility.
    pub visibility: String,
    /// Stock status, when known.
    pub stock_status: Option<StockStatus>,
    /// Units in stock, when known.
    pub stock_quantity: Option<i32>,
}

/// A product changed (Avro `cypher.product.ProductUpdated`, seed 000 section 7.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductUpdated {
    /// Catalog product id; the Kafka key.
    pub product_id: String,
    /// Stock keeping unit.
    pub sku: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub updated_at: DateTime<Utc>,
    /// Who.
    pub updated_by: String,
    /// What changed.
    pub change_type: ProductChangeType,
    /// Changed fields before, as text.
    pub previous_values: BTreeMap<String, String>,
    /// Changed fields after, as text.
    pub new_values: BTreeMap<String, String>,
    /// The product after the change.
    pub product: ProductSnapshot,
}

contract!(ProductUpdated, schema: "cypher.product.ProductUpdated", topic: "cypher.product.updated.v1",
    event_type: "product.updated", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for ProductUpdated {
    fn example() -> Self {
        ProductUpdated {
            product_id: "PRD-00123".into(),
            sku: "PRD-001-A".into(),
            updated_at: ts("2026-02-13T12:00:00.400Z"),
            updated_by: "catalog-worker".into(),
            change_type: ProductChangeType::StockStatusChanged,
            previous_values: BTreeMap::from([("stock_quantity".into(), "50".into())]),
            new_values: BTreeMap::from([("stock_quantity".into(), "40".into())]),
            product: ProductSnapshot {
                id: "PRD-00123".into(),
                name: "Industrial Shelf 120cm".into(),
                status: "active".into(),
                visibility: "catalog_and_search".into(),
                stock_status: Some(StockStatus::InStock),
                stock_quantity: Some(40),
            },
        }
    }
}
