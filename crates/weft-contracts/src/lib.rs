//! weft's event contracts: the Avro schemas in `avro/` as typed Rust events, the schema catalog,
//! `schemas lint` / `schemas check` logic and the seed-event inventory.
//!
//! - [`catalog`]: loads every `.avsc` under a directory, resolves named-type references, gives
//!   per full name the file, JSON, parsed schema, references, dependency order and a
//!   self-contained form;
//! - [`lint`]: naming, docs, money, optional and enum rules for every `.avsc`;
//! - [`check`]: compatibility of changed schemas against a git ref, with the checker injected;
//! - [`inventory`]: the seed-event inventory, derived from the topic specs, and its consistency checks;
//! - [`envelope`]: [`EventMetadata`], [`Priority`], [`Event`], the [`Contract`] trait;
//! - [`codec`]: Avro binary encode/decode of typed events;
//! - [`json`]: Avro values to and from the plain JSON people read and type (examples, console);
//! - [`decimal`]: [`Decimal4`], exact money and fractional quantities (Avro `decimal(18,4)`);
//! - [`registry`]: the explicit list of every contract;
//! - one module per seed system with its payload structs, generated from `avro/` and `topics/` by
//!   the build script (`build/`): [`cypher`], [`collector`], [`composerp`], [`b2b`], [`viscount`].
//!
//! The conventions (envelope, headers, type rules, naming) are written down in
//! `docs/contracts.md`.

pub mod catalog;
pub mod check;
pub mod codec;
pub mod decimal;
pub mod direct;
pub mod envelope;
pub mod error;
pub mod inventory;
pub mod json;
pub mod lint;
mod macros;
pub mod registry;
pub mod time;

pub mod b2b;
pub mod collector;
pub mod composerp;
pub mod cypher;
pub mod viscount;

pub use catalog::{Catalog, CatalogEntry};
pub use decimal::{dec, Decimal4};
pub use envelope::{Contract, Event, EventMetadata, Example, Priority};
pub use error::{ContractsError, Result};
