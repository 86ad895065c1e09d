//! Seed 000, Cypher ERP: cart, quote, order, invoice, credit, product, stock, price, promotion and
//! category events. Envelope fields of the seed map onto [`crate::EventMetadata`]; `event_version`
//! is the seed's `v1`.

use serde::{Deserialize, Serialize};

use crate::Decimal4;

pub mod cart;
pub mod category;
pub mod credit;
pub mod invoice;
pub mod order;
pub mod price;
pub mod product;
pub mod promotion;
pub mod quote;
pub mod stock;

/// The seed's `event_version` for every Cypher event.
pub const EVENT_VERSION: &str = "v1";

crate::avro_enum! {
    /// Customer segment; credit rules apply to b2b only.
    pub enum CustomerType { B2b = "b2b", B2c = "b2c"; default Unknown = "unknown" }
}

crate::avro_enum! {
    /// Payment terms (seed 000 section 6.6).
    pub enum PaymentTerm {
        Immediate = "immediate", Net7 = "net_7", Net14 = "net_14", Net30 = "net_30",
        Net60 = "net_60", Net90 = "net_90";
        default Unknown = "unknown"
    }
}

crate::avro_enum! {
    /// Stock status derived from quantity and the low-stock threshold.
    pub enum StockStatus {
        InStock = "in_stock", LowStock = "low_stock", OutOfStock = "out_of_stock";
        default Unknown = "unknown"
    }
}

/// Money totals of a cart, quote or order, all in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Sum of the line totals before tax.
    pub subtotal: Decimal4,
    /// Tax on the subtotal.
    pub tax_amount: Decimal4,
    /// Amount due: subtotal plus tax.
    pub total: Decimal4,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// A priced line of a cart or quote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricedLine {
    /// Catalog product id.
    pub product_id: String,
    /// Stock keeping unit.
    pub sku: String,
    /// Units.
    pub quantity: i32,
    /// Unit price.
    pub unit_price: Decimal4,
    /// quantity times unit_price.
    pub line_total: Decimal4,
}
