//! Seed 001, Collector: the orders service.

pub mod orders;
