//! `order.cart.item-added`, `order.cart.item-removed`, `order.cart.item-quantity-updated`,
//! `order.cart.cleared`, `order.cart.converted`.

use serde::{Deserialize, Serialize};

use super::{usd, Money, EVENT_VERSION};
use crate::macros::contract;
use crate::Example;

const CART: &str = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d";
const CART_ITEM: &str = "7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e";
const PRODUCT: &str = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
const VARIANT: &str = "4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b";

crate::avro_enum! {
    /// Why a cart was emptied.
    pub enum ClearReason {
        UserAction = "user_action", CartConversion = "cart_conversion", Timeout = "timeout";
        default Unknown = "unknown"
    }
}

/// An item was added to a cart (Avro `b2b.cart.ItemAddedToCart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemAddedToCart {
    /// The cart (UUID, the aggregateId); the Kafka key.
    pub cart_id: String,
    /// Cart line (UUID).
    pub cart_item_id: String,
    /// Product (UUID).
    pub product_id: String,
    /// Variant (UUID).
    pub variant_id: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// Units added.
    pub quantity: i32,
    /// Unit price.
    pub unit_price: Money,
}

contract!(ItemAddedToCart, schema: "b2b.cart.ItemAddedToCart", topic: "b2b.cart.item-added.v1",
    event_type: "order.cart.item-added", version: EVENT_VERSION, priority: Normal, key: cart_id);

impl Example for ItemAddedToCart {
    fn example() -> Self {
        ItemAddedToCart {
            cart_id: CART.into(),
            cart_item_id: CART_ITEM.into(),
            product_id: PRODUCT.into(),
            variant_id: Some(VARIANT.into()),
            sku: "PROD-001-L-BLUE".into(),
            quantity: 2,
            unit_price: usd("99.99"),
        }
    }
}

/// An item was removed from a cart (Avro `b2b.cart.ItemRemovedFromCart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRemovedFromCart {
    /// The cart (UUID, the aggregateId); the Kafka key.
    pub cart_id: String,
    /// Cart line (UUID).
    pub cart_item_id: String,
    /// Product (UUID).
    pub product_id: String,
    /// Variant (UUID).
    pub variant_id: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// Units removed.
    pub quantity: i32,
}

contract!(ItemRemovedFromCart, schema: "b2b.cart.ItemRemovedFromCart", topic: "b2b.cart.item-removed.v1",
    event_type: "order.cart.item-removed", version: EVENT_VERSION, priority: Normal, key: cart_id);

impl Example for ItemRemovedFromCart {
    fn example() -> Self {
        ItemRemovedFromCart {
            cart_id: CART.into(),
            cart_item_id: CART_ITEM.into(),
            product_id: PRODUCT.into(),
            variant_id: Some(VARIANT.into()),
            sku: "PROD-001-L-BLUE".into(),
            quantity: 2,
        }
    }
}

/// A cart line's quantity changed (Avro `b2b.cart.ItemQuantityUpdated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemQuantityUpdated {
    /// The cart (UUID, the aggregateId); the Kafka key.
    pub cart_id: String,
    /// Cart line (UUID).
    pub cart_item_id: String,
    /// Product (UUID).
    pub product_id: String,
    /// Variant (UUID).
    pub variant_id: Option<String>,
    /// Stock keeping unit.
    pub sku: String,
    /// Units before.
    pub previous_quantity: i32,
    /// Units after.
    pub new_quantity: i32,
}

contract!(ItemQuantityUpdated, schema: "b2b.cart.ItemQuantityUpdated", topic: "b2b.cart.item-quantity-updated.v1",
    event_type: "order.cart.item-quantity-updated", version: EVENT_VERSION, priority: Normal, key: cart_id);

impl Example for ItemQuantityUpdated {
    fn example() -> Self {
        ItemQuantityUpdated {
            cart_id: CART.into(),
            cart_item_id: CART_ITEM.into(),
            product_id: PRODUCT.into(),
            variant_id: Some(VARIANT.into()),
            sku: "PROD-001-L-BLUE".into(),
            previous_quantity: 2,
            new_quantity: 5,
        }
    }
}

/// A cart was emptied (Avro `b2b.cart.CartCleared`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartCleared {
    /// The cart (UUID, the aggregateId); the Kafka key.
    pub cart_id: String,
    /// Lines it held.
    pub item_count: i32,
    /// Why.
    pub reason: ClearReason,
}

contract!(CartCleared, schema: "b2b.cart.CartCleared", topic: "b2b.cart.cleared.v1",
    event_type: "order.cart.cleared", version: EVENT_VERSION, priority: Normal, key: cart_id);

impl Example for CartCleared {
    fn example() -> Self {
        CartCleared {
            cart_id: CART.into(),
            item_count: 3,
            reason: ClearReason::CartConversion,
        }
    }
}

/// A cart became an order (Avro `b2b.cart.CartConverted`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartConverted {
    /// The cart (UUID, the aggregateId); the Kafka key.
    pub cart_id: String,
    /// The order (UUID).
    pub order_id: String,
    /// Human-readable order number.
    pub order_number: String,
    /// Lines converted.
    pub item_count: i32,
    /// Order total.
    pub total: Money,
}

contract!(CartConverted, schema: "b2b.cart.CartConverted", topic: "b2b.cart.converted.v1",
    event_type: "order.cart.converted", version: EVENT_VERSION, priority: Normal, key: cart_id);

impl Example for CartConverted {
    fn example() -> Self {
        CartConverted {
            cart_id: CART.into(),
            order_id: "5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c".into(),
            order_number: "ORD-2025-11-000123".into(),
            item_count: 3,
            total: usd("299.97"),
        }
    }
}
