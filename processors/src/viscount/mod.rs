//! Seed 004, First Viscount: the inventory management service (reservations) and the stock
//! alerts of the inventory service.

pub mod alerts;
pub mod inventory;
