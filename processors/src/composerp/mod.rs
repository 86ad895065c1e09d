//! Seed 002, Composerp: the inventory ledger and replenishment services, and the transform of the inventory events' v1 -> v2
//! migration.

pub mod ledger;
pub mod migration;
pub mod replenishment;
