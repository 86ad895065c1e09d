//! Seed 004, First Viscount: stock alerts of the inventory service.

pub mod alerts;
