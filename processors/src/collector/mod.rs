//! Seed 001, Collector: the orders service, and order-to-cash: the inventory service and the
//! invoices service.

pub mod inventory;
pub mod invoices;
pub mod orders;
