//! Sinks into PostgreSQL (see `migrations/0002_sinks.sql`).

/// The sinks' tables (idempotent).
pub const MIGRATION: &str = include_str!("../migrations/0002_sinks.sql");
