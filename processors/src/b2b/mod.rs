//! Seed 003, B2B e-commerce: the notification worker and the inventory worker.

pub mod inventory;
pub mod notifications;
