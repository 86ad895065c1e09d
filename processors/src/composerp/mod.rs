//! Seed 002, Composerp: the replenishment service, and the transform of the inventory events' v1 -> v2
//! migration.

pub mod migration;
pub mod replenishment;
