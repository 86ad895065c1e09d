//! weft's seed processors. Each flow is a pure function from one input event to its outputs
//! (see `weft_runtime::typed`); each service is a [`Processor`] registered in [`all`], the
//! explicit list `weft run` starts.
//!
//! Adding a processor: write its function(s) in the module of its system, its output schema in
//! `avro/` and topic spec in `topics/` (with the processor's group in the input spec's
//! `consumers`), and add one line to [`all`]. The compliance test (`tests` below) then checks it.

pub mod b2b;
pub mod collector;
pub mod composerp;
pub mod cypher;
pub mod viscount;

use std::collections::BTreeMap;
use std::sync::Arc;

use weft_runtime::Processor;

/// Replenishment thresholds per item, with a default (Composerp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    per_item: BTreeMap<String, i64>,
    default: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            per_item: BTreeMap::new(),
            default: 10,
        }
    }
}

impl Thresholds {
    /// Parses `ITEM=N,ITEM2=M` and a default (`""` keeps 10); errors name the bad entry.
    pub fn parse(per_item: &str, default: &str) -> Result<Self, String> {
        let number = |what: &str, text: &str| {
            text.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("{what}: `{text}` is not a whole number >= 0"))
        };
        let mut t = Thresholds::default();
        if !default.trim().is_empty() {
            t.default = number("default replenishment threshold", default)?;
        }
        for entry in per_item.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (item, n) = entry
                .split_once('=')
                .ok_or_else(|| format!("replenishment threshold `{entry}` is not ITEM=N"))?;
            if item.trim().is_empty() {
                return Err(format!("replenishment threshold `{entry}` names no item"));
            }
            t.per_item.insert(
                item.trim().to_string(),
                number(&format!("threshold of {}", item.trim()), n)?,
            );
        }
        Ok(t)
    }

    /// The threshold of `item`.
    pub fn for_item(&self, item: &str) -> i64 {
        self.per_item.get(item).copied().unwrap_or(self.default)
    }
}

/// Settings processors read (from the environment in `weft run`).
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Composerp replenishment thresholds.
    pub replenish: Thresholds,
    /// First Viscount stock-alert levels.
    pub stock_alerts: viscount::alerts::AlertThresholds,
    /// Composerp ledger: event ids remembered per position for duplicate detection (0: off).
    pub ledger_remembered_events: usize,
    /// Cypher credit worker: the limit of a new credit account.
    pub credit_limit: weft_contracts::Decimal4,
    /// Collector invoices service: days from a confirmed delivery to its invoice's due date.
    pub invoice_payment_days: i64,
    /// Collector inventory service: the reorder level and minimum stock.
    pub collector_stock: collector::inventory::StockLevels,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            replenish: Thresholds::default(),
            stock_alerts: Default::default(),
            ledger_remembered_events: composerp::ledger::REMEMBERED,
            credit_limit: weft_contracts::Decimal4::from_int(cypher::credit::DEFAULT_LIMIT),
            invoice_payment_days: collector::invoices::PAYMENT_DAYS,
            collector_stock: Default::default(),
        }
    }
}

/// Every registered migration transform, one line each: its name is the declaration's in
/// `topics/migrations/` (`weft migrate plan` checks that each declaration has one, and that its
/// topics are the transform's).
pub fn migrations() -> Vec<Arc<weft_runtime::migration::Transform>> {
    vec![Arc::new(composerp::migration::transform())]
}

/// Every registered processor.
pub fn all(config: &ProcessorConfig) -> Vec<Processor> {
    vec![
        b2b::notifications::processor(),
        b2b::inventory::processor(),
        collector::orders::processor(),
        collector::invoices::processor(config.invoice_payment_days),
        collector::inventory::processor(config.collector_stock),
        cypher::catalog::processor(),
        cypher::checkout::processor(),
        cypher::credit::processor(config.credit_limit),
        cypher::sinks::search_indexer(),
        cypher::sinks::erp_sync(),
        composerp::ledger::processor(config.ledger_remembered_events),
        composerp::replenishment::processor(Arc::new(config.replenish.clone())),
        viscount::inventory::processor(),
        viscount::alerts::processor(config.stock_alerts),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_bad_entries_are_named() {
        let t = Thresholds::parse("SKU-1=5, SKU-2=0", "12").unwrap();
        assert_eq!(
            (t.for_item("SKU-1"), t.for_item("SKU-2"), t.for_item("x")),
            (5, 0, 12)
        );
        assert_eq!(Thresholds::parse("", "").unwrap().for_item("x"), 10);
        assert!(Thresholds::parse("SKU-1", "")
            .unwrap_err()
            .contains("`SKU-1`"));
        assert!(Thresholds::parse("SKU-1=-3", "")
            .unwrap_err()
            .contains("SKU-1"));
        assert!(Thresholds::parse("", "ten").unwrap_err().contains("`ten`"));
    }

    #[test]
    fn every_registered_processor_is_compliant() {
        let specs = weft_core::spec::SpecSet::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../topics"),
        )
        .unwrap();
        let processors = all(&ProcessorConfig::default());
        assert!(!processors.is_empty());
        let mut names: Vec<&str> = processors.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            processors.len(),
            "processor names must be unique"
        );
        let problems: Vec<String> = processors
            .into_iter()
            .flat_map(|p| weft_runtime::compliance(p, &specs))
            .collect();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
