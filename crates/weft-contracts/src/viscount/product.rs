//! `product.created`, `product.updated`, `product.deleted`, `product.price_changed`,
//! `product.out_of_stock`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

fn coffee_attributes() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("weight".into(), "1kg".into()),
        ("origin".into(), "Guatemala".into()),
        ("roast_level".into(), "medium".into()),
    ])
}

/// A product was created (Avro `viscount.product.ProductCreated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductCreated {
    /// Product id; the Kafka key.
    pub product_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category_id: String,
    /// List price.
    pub price: Decimal4,
    /// ISO 4217 currency code (the seed sends none).
    pub currency: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// Sellable.
    pub is_active: bool,
    /// Attributes as text.
    pub attributes: BTreeMap<String, String>,
}

contract!(ProductCreated, schema: "viscount.product.ProductCreated", topic: "viscount.product.created.v1",
    event_type: "product.created", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for ProductCreated {
    fn example() -> Self {
        ProductCreated {
            product_id: "prod_123456789".into(),
            name: "Premium Coffee Beans".into(),
            description: "High-quality arabica coffee beans from Guatemala".into(),
            category_id: "cat_beverages".into(),
            price: dec("24.99"),
            currency: Some("USD".into()),
            sku: "COFFEE-PREM-001".into(),
            is_active: true,
            attributes: coffee_attributes(),
        }
    }
}

/// One changed field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Field path.
    pub field: String,
    /// Value before, as text.
    pub old_value: Option<String>,
    /// Value after, as text.
    pub new_value: Option<String>,
}

/// Product information changed (Avro `viscount.product.ProductUpdated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductUpdated {
    /// Product id; the Kafka key.
    pub product_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category_id: String,
    /// List price.
    pub price: Decimal4,
    /// ISO 4217 currency code (the seed sends none).
    pub currency: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// Sellable.
    pub is_active: bool,
    /// Attributes as text.
    pub attributes: BTreeMap<String, String>,
    /// What changed.
    pub changes: Vec<FieldChange>,
}

contract!(ProductUpdated, schema: "viscount.product.ProductUpdated", topic: "viscount.product.updated.v1",
    event_type: "product.updated", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for ProductUpdated {
    fn example() -> Self {
        let mut attributes = coffee_attributes();
        attributes.insert("organic".into(), "true".into());
        ProductUpdated {
            product_id: "prod_123456789".into(),
            name: "Premium Coffee Beans".into(),
            description: "Premium arabica coffee beans from Guatemala - now organic certified"
                .into(),
            category_id: "cat_beverages".into(),
            price: dec("24.99"),
            currency: Some("USD".into()),
            sku: "COFFEE-PREM-001".into(),
            is_active: true,
            attributes,
            changes: vec![
                FieldChange {
                    field: "description".into(),
                    old_value: Some("High-quality arabica coffee beans from Guatemala".into()),
                    new_value: Some(
                        "Premium arabica coffee beans from Guatemala - now organic certified"
                            .into(),
                    ),
                },
                FieldChange {
                    field: "attributes.organic".into(),
                    old_value: Some("false".into()),
                    new_value: Some("true".into()),
                },
            ],
        }
    }
}

/// A product was deleted (Avro `viscount.product.ProductDeleted`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDeleted {
    /// Product id; the Kafka key.
    pub product_id: String,
    /// Name.
    pub name: String,
    /// Why.
    pub reason: String,
}

contract!(ProductDeleted, schema: "viscount.product.ProductDeleted", topic: "viscount.product.deleted.v1",
    event_type: "product.deleted", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for ProductDeleted {
    fn example() -> Self {
        ProductDeleted {
            product_id: "prod_123456789".into(),
            name: "Premium Coffee Beans".into(),
            reason: "discontinued".into(),
        }
    }
}

/// A product's price changed (Avro `viscount.product.PriceChanged`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceChanged {
    /// Product id; the Kafka key.
    pub product_id: String,
    /// Before.
    pub old_price: Decimal4,
    /// After.
    pub new_price: Decimal4,
    /// ISO 4217 currency code (the seed sends none).
    pub currency: Option<String>,
    /// When the new price applies.
    #[serde(with = "crate::time::millis")]
    pub effective_date: DateTime<Utc>,
}

contract!(PriceChanged, schema: "viscount.product.PriceChanged", topic: "viscount.product.price-changed.v1",
    event_type: "product.price_changed", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for PriceChanged {
    fn example() -> Self {
        PriceChanged {
            product_id: "prod_123456789".into(),
            old_price: dec("24.99"),
            new_price: dec("22.99"),
            currency: Some("USD".into()),
            effective_date: ts("2024-01-16T00:00:00Z"),
        }
    }
}

/// A product ran out of stock (Avro `viscount.product.ProductOutOfStock`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductOutOfStock {
    /// Product id; the Kafka key.
    pub product_id: String,
    /// Stock level that triggered it.
    pub last_stock_level: i32,
    /// Location.
    pub location_id: String,
}

contract!(ProductOutOfStock, schema: "viscount.product.ProductOutOfStock", topic: "viscount.product.out-of-stock.v1",
    event_type: "product.out_of_stock", version: EVENT_VERSION, priority: Normal, key: product_id);

impl Example for ProductOutOfStock {
    fn example() -> Self {
        ProductOutOfStock {
            product_id: "prod_123456789".into(),
            last_stock_level: 0,
            location_id: "warehouse_main".into(),
        }
    }
}
