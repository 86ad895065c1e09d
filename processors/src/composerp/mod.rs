//! Seed 002, Composerp: the replenishment service.

pub mod replenishment;
