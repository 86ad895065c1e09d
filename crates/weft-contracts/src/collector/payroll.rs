//! `payroll.processed`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

/// A payroll run was processed (Avro `collector.payroll.PayrollProcessed`, seed 001 schema 11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayrollProcessed {
    /// The run (UUID); the Kafka key.
    pub payroll_id: String,
    /// Period paid, `YYYY-MM`.
    pub payroll_period: String,
    /// Total paid out.
    pub total_amount: Decimal4,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Employees paid.
    pub employee_count: i32,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub processed_at: DateTime<Utc>,
}

contract!(PayrollProcessed, schema: "collector.payroll.PayrollProcessed", topic: "collector.payroll.processed.v1",
    event_type: "payroll.processed", version: EVENT_VERSION, priority: Normal, key: payroll_id);

impl Example for PayrollProcessed {
    fn example() -> Self {
        PayrollProcessed {
            payroll_id: "ee55ff66-0077-4b88-8299-330011223344".into(),
            payroll_period: "2024-01".into(),
            total_amount: dec("50000.00"),
            currency: "USD".into(),
            employee_count: 25,
            processed_at: ts("2024-01-31T18:00:00.000Z"),
        }
    }
}
