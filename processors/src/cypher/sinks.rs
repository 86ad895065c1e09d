//! The sinks of seed 000: the search indexer and the ERP sync. Each is a pure function from an
//! event to the document it would send; the runtime writes the document once per event id
//! into PostgreSQL with `WEFT_DATABASE_URL` (`weft_runtime::sink_loop`: documents and consumed
//! positions in one database transaction, exactly once), else, for development, into files
//! `<WEFT_SINK_DIR>/<sink>.jsonl` (`weft_runtime::sink`).
//!
//! - search indexer: `product.updated` -> a search document (id, sku, status, stock, the changed
//!   values);
//! - ERP sync: `order.created` -> the order as the ERP takes it (number, customer, lines, totals).
//!
//! Poison: an order without lines (the ERP rejects it).

use serde_json::json;
use weft_contracts::cypher::order::OrderCreated;
use weft_contracts::cypher::product::ProductUpdated;
use weft_runtime::{In, ProcessError, Processor};

/// The search indexer's group.
pub const SEARCH_INDEXER: &str = "cypher.search-indexer";
/// The ERP sync's group.
pub const ERP_SYNC: &str = "cypher.erp-sync";

/// The search indexer.
pub fn search_indexer() -> Processor {
    Processor::new(SEARCH_INDEXER).sink::<ProductUpdated>("search-index", search_document)
}

/// The ERP sync.
pub fn erp_sync() -> Processor {
    Processor::new(ERP_SYNC).sink::<OrderCreated>("erp-orders", erp_order)
}

/// `product.updated` -> the search document.
pub fn search_document(update: &In<ProductUpdated>) -> Result<serde_json::Value, ProcessError> {
    let u = update.payload();
    Ok(json!({
        "id": u.product_id,
        "sku": u.sku,
        "stock_status": u.product.stock_status.map(|s| s.as_str()),
        "stock_quantity": u.product.stock_quantity,
        "change": u.change_type.as_str(),
        "values": u.new_values,
        "updated_at": u.updated_at.to_rfc3339(),
    }))
}

/// `order.created` -> the ERP order.
pub fn erp_order(order: &In<OrderCreated>) -> Result<serde_json::Value, ProcessError> {
    let o = order.payload();
    if o.items.is_empty() {
        return Err(ProcessError::Poison(format!(
            "order {} has no lines; the ERP rejects empty orders",
            o.order_number
        )));
    }
    Ok(json!({
        "order_number": o.order_number,
        "customer": o.customer_id,
        "lines": o.items.iter().map(|i| json!({
            "sku": i.sku, "quantity": i.quantity, "unit_price": i.unit_price.to_string(),
            "line_total": i.line_total.to_string(),
        })).collect::<Vec<_>>(),
        "total": o.totals.total.to_string(),
        "currency": o.totals.currency,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_contracts::{Event, EventMetadata, Example};
    use weft_runtime::TestDriver;

    #[test]
    fn each_product_update_is_indexed_once() {
        let mut driver = TestDriver::new(search_indexer()).unwrap();
        let update = Event::new(
            EventMetadata::new_for::<ProductUpdated>("catalog", "u"),
            ProductUpdated::example(),
        );
        assert!(driver.feed(update.clone()).unwrap().is_empty());
        driver.feed(update.clone()).unwrap(); // a redelivery
        let lines = driver.sink_lines();
        assert_eq!(lines.len(), 1, "written once per event id");
        assert_eq!(lines[0].sink, "search-index");
        assert_eq!(lines[0].event_id, update.metadata.event_id);
        assert_eq!(lines[0].document["sku"], update.payload.sku);
    }

    #[test]
    fn orders_reach_the_erp_and_empty_ones_are_poison() {
        let mut driver = TestDriver::new(erp_sync()).unwrap();
        let order = Event::new(
            EventMetadata::new_for::<OrderCreated>("checkout", "u"),
            OrderCreated::example(),
        );
        driver.feed(order.clone()).unwrap();
        let lines = driver.sink_lines();
        assert_eq!(
            lines[0].document["order_number"],
            order.payload.order_number
        );
        assert_eq!(
            lines[0].document["lines"].as_array().unwrap().len(),
            order.payload.items.len()
        );
        let mut empty = order;
        empty.metadata.event_id = uuid::Uuid::new_v4().to_string();
        empty.payload.items.clear();
        assert_eq!(driver.feed(empty).unwrap_err().class(), "poison");
    }
}
