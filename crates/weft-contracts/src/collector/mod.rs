//! Seed 001, Collector: the order-to-cash chain (offer, order, delivery, invoice), stock and HR
//! events. The seed's envelope (`type`, `timestamp`, `tenantId`, `source`, `correlationId`,
//! `data`) maps onto [`crate::EventMetadata`]; the seed has no version, weft uses `1.0`. Every
//! id the seed marks `uuid` has Avro logical type `uuid`; the seed's decimal strings
//! (`"1500.00"`) are [`crate::Decimal4`].

pub mod delivery;
pub mod employee;
pub mod invoice;
pub mod offer;
pub mod order;
pub mod payroll;
pub mod stock;
pub mod task;

/// The `event_version` weft uses for every Collector event (the seed has none).
pub const EVENT_VERSION: &str = "1.0";
