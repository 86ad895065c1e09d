//! Seed 001, Collector: the orders service and the invoices service (order-to-cash).

pub mod invoices;
pub mod orders;
