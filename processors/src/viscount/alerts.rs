//! Stock alerts (seed 004): `InventoryUpdated` -> `LowStockAlert` when available stock falls
//! below the warning threshold (level `warning`), or to the critical threshold or under (level
//! `critical`), and `product.out_of_stock` when it reaches zero.
//!
//! Thresholds from configuration (`WEFT_STOCK_WARNING`, default 10; `WEFT_STOCK_CRITICAL`,
//! default 3). Poison: negative stock, or more available than in stock.

use weft_contracts::viscount::inventory::{AlertLevel, InventoryUpdated, LowStockAlert};
use weft_contracts::viscount::product::ProductOutOfStock;
use weft_runtime::{In, Out, ProcessError, Processor};

/// The consumer group and processor name.
pub const NAME: &str = "viscount.inventory-service";

/// Alert thresholds: `warning` > `critical` >= 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertThresholds {
    pub warning: i32,
    pub critical: i32,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        AlertThresholds {
            warning: 10,
            critical: 3,
        }
    }
}

/// The registration.
pub fn processor(levels: AlertThresholds) -> Processor {
    Processor::new(NAME)
        .on::<InventoryUpdated>(move |i| alert(i, levels))
        .emits::<LowStockAlert>()
        .emits::<ProductOutOfStock>()
}

/// `InventoryUpdated` -> alerts.
pub fn alert(
    update: &In<InventoryUpdated>,
    levels: AlertThresholds,
) -> Result<Vec<Out>, ProcessError> {
    let u = update.payload();
    if u.available_quantity < 0 || u.quantity < 0 || u.available_quantity > u.quantity {
        return Err(ProcessError::Poison(format!(
            "product {} at {}: available {} is impossible with {} in stock",
            u.product_id, u.location_id, u.available_quantity, u.quantity
        )));
    }
    let level = if u.available_quantity <= levels.critical {
        AlertLevel::Critical
    } else if u.available_quantity < levels.warning {
        AlertLevel::Warning
    } else {
        return Ok(vec![]);
    };
    let mut outs = vec![update.emit(
        0,
        LowStockAlert {
            product_id: u.product_id.clone(),
            location_id: u.location_id.clone(),
            current_quantity: u.available_quantity,
            threshold: match level {
                AlertLevel::Critical => levels.critical,
                _ => levels.warning,
            },
            alert_level: level,
        },
    )];
    if u.available_quantity == 0 {
        outs.push(update.emit(
            0,
            ProductOutOfStock {
                product_id: u.product_id.clone(),
                last_stock_level: u.quantity,
                location_id: u.location_id.clone(),
            },
        ));
    }
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    fn update(available: i32) -> Event<InventoryUpdated> {
        let mut p = InventoryUpdated::example();
        p.reserved_quantity = 2;
        p.quantity = available + 2;
        p.available_quantity = available;
        Event::new(
            EventMetadata::new_for::<InventoryUpdated>("inventory", "u"),
            p,
        )
    }

    #[test]
    fn levels_follow_the_thresholds() {
        let mut d = TestDriver::new(processor(AlertThresholds::default())).unwrap();
        assert!(d.feed(update(10)).unwrap().is_empty());
        let w = d.feed(update(8)).unwrap();
        assert_eq!(w.len(), 1);
        let a = w[0].event::<LowStockAlert>().unwrap();
        assert_eq!(
            (a.payload.alert_level, a.payload.threshold),
            (AlertLevel::Warning, 10)
        );
        let c = d.feed(update(3)).unwrap();
        assert_eq!(
            c[0].event::<LowStockAlert>().unwrap().payload.alert_level,
            AlertLevel::Critical
        );
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn zero_available_is_critical_and_out_of_stock() {
        let mut d = TestDriver::new(processor(AlertThresholds::default())).unwrap();
        let input = update(0);
        let outs = d.feed(input.clone()).unwrap();
        assert_eq!(outs.len(), 2);
        assert_eq!(
            outs[0]
                .event::<LowStockAlert>()
                .unwrap()
                .payload
                .alert_level,
            AlertLevel::Critical
        );
        let gone = outs[1].event::<ProductOutOfStock>().unwrap();
        assert_eq!(gone.payload.product_id, input.payload.product_id);
        assert_eq!(gone.payload.last_stock_level, 2);
    }

    #[test]
    fn impossible_stock_is_poison() {
        let mut d = TestDriver::new(processor(AlertThresholds::default())).unwrap();
        let mut bad = update(5);
        bad.payload.available_quantity = 50;
        assert_eq!(d.feed(bad).unwrap_err().class(), "poison");
    }
}
