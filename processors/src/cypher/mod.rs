//! Seed 000, Cypher ERP: the catalog worker, and two sinks (search indexer, ERP sync).

pub mod catalog;
pub mod sinks;
