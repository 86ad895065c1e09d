//! `product.created`, `product.updated`, `product.activated`, `product.deactivated`.

use serde::{Deserialize, Serialize};

use super::{usd, Money, EVENT_VERSION};
use crate::macros::contract;
use crate::Example;

const PRODUCT: &str = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
const CATEGORY: &str = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f";

/// A product was created (Avro `b2b.product.ProductCreated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductCreated {
    /// The product (UUID, the aggregateId); the Kafka key.
    pub product_id: String,
    /// Stock keeping unit.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Category (UUID).
    pub category_id: String,
    /// List price.
    pub base_price: Money,
    /// Sellable.
    pub is_active: bool,
}

contract!(ProductCreated, schema: "b2b.product.ProductCreated", topic: "b2b.product.created.v1",
    event_type: "product.created", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for ProductCreated {
    fn example() -> Self {
        ProductCreated {
            product_id: PRODUCT.into(),
            sku: "PROD-001".into(),
            name: "Product Name".into(),
            category_id: CATEGORY.into(),
            base_price: usd("99.99"),
            is_active: true,
        }
    }
}

/// Product fields that can change; `None` means unchanged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProductFields {
    /// Name.
    pub name: Option<String>,
    /// Category (UUID).
    pub category_id: Option<String>,
    /// List price.
    pub base_price: Option<Money>,
    /// Sellable.
    pub is_active: Option<bool>,
}

/// Product fields changed (Avro `b2b.product.ProductUpdated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductUpdated {
    /// The product (UUID, the aggregateId); the Kafka key.
    pub product_id: String,
    /// Stock keeping unit.
    pub sku: String,
    /// New values.
    pub changes: ProductFields,
    /// Old values.
    pub previous_values: ProductFields,
}

contract!(ProductUpdated, schema: "b2b.product.ProductUpdated", topic: "b2b.product.updated.v1",
    event_type: "product.updated", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for ProductUpdated {
    fn example() -> Self {
        ProductUpdated {
            product_id: PRODUCT.into(),
            sku: "PROD-001".into(),
            changes: ProductFields {
                name: Some("Updated Product Name".into()),
                category_id: Some("3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a".into()),
                base_price: Some(usd("109.99")),
                is_active: Some(true),
            },
            previous_values: ProductFields {
                name: Some("Product Name".into()),
                category_id: Some(CATEGORY.into()),
                base_price: Some(usd("99.99")),
                is_active: Some(false),
            },
        }
    }
}

/// A product was activated (Avro `b2b.product.ProductActivated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductActivated {
    /// The product (UUID, the aggregateId); the Kafka key.
    pub product_id: String,
    /// Stock keeping unit.
    pub sku: String,
    /// Admin's e-mail.
    pub activated_by: String,
}

contract!(ProductActivated, schema: "b2b.product.ProductActivated", topic: "b2b.product.activated.v1",
    event_type: "product.activated", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for ProductActivated {
    fn example() -> Self {
        ProductActivated {
            product_id: PRODUCT.into(),
            sku: "PROD-001".into(),
            activated_by: "admin@example.com".into(),
        }
    }
}

/// A product was deactivated (Avro `b2b.product.ProductDeactivated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDeactivated {
    /// The product (UUID, the aggregateId); the Kafka key.
    pub product_id: String,
    /// Stock keeping unit.
    pub sku: String,
    /// Free-text reason.
    pub reason: String,
    /// Admin's e-mail.
    pub deactivated_by: String,
}

contract!(ProductDeactivated, schema: "b2b.product.ProductDeactivated", topic: "b2b.product.deactivated.v1",
    event_type: "product.deactivated", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for ProductDeactivated {
    fn example() -> Self {
        ProductDeactivated {
            product_id: PRODUCT.into(),
            sku: "PROD-001".into(),
            reason: "Out of production".into(),
            deactivated_by: "admin@example.com".into(),
        }
    }
}
