//! Seed 000, Cypher ERP: the catalog worker, the checkout worker (carts), the credit worker,
//! and two sinks (search indexer, ERP sync).

pub mod catalog;
pub mod checkout;
pub mod credit;
pub mod sinks;
