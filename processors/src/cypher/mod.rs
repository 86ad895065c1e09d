//! Seed 000, Cypher ERP: the catalog worker, the credit worker's payment step, and two sinks
//! (search indexer, ERP sync).

pub mod catalog;
pub mod credit;
pub mod sinks;
