//! `credit.changed`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CustomerType, PaymentTerm, EVENT_VERSION};
use crate::macros::contract;
use crate::time::ts;
use crate::{dec, Decimal4, Example};

crate::avro_enum! {
    /// What changed in a credit account.
    pub enum CreditChangeType {
        CreditLimitIncreased = "credit_limit_increased", CreditLimitDecreased = "credit_limit_decreased",
        BalanceIncreased = "balance_increased", BalanceDecreased = "balance_decreased",
        PaymentReceived = "payment_received", PaymentTermChanged = "payment_term_changed";
        default Unknown = "unknown"
    }
}

/// A customer's credit changed (Avro `cypher.credit.CreditChanged`, seed 000 section 6.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditChanged {
    /// Customer; the Kafka key.
    pub customer_id: String,
    /// Customer segment.
    pub customer_type: CustomerType,
    /// What changed.
    pub change_type: CreditChangeType,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub changed_at: DateTime<Utc>,
    /// Who.
    pub changed_by: String,
    /// Limit before, when the limit changed.
    pub previous_credit_limit: Option<Decimal4>,
    /// Limit after, when the limit changed.
    pub new_credit_limit: Option<Decimal4>,
    /// Current limit.
    pub credit_limit: Decimal4,
    /// Credit still available.
    pub available_credit: Decimal4,
    /// Share of the limit in use, percent.
    pub credit_utilization: Decimal4,
    /// Balance before, when it changed.
    pub previous_balance: Option<Decimal4>,
    /// Balance after, when it changed.
    pub new_balance: Option<Decimal4>,
    /// Amount the balance moved by.
    pub balance_change_amount: Option<Decimal4>,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Payment terms.
    pub payment_term: PaymentTerm,
}

contract!(CreditChanged, schema: "cypher.credit.CreditChanged", topic: "cypher.credit.changed.v1",
    event_type: "credit.changed", version: EVENT_VERSION, priority: Critical, key: customer_id);

impl Example for CreditChanged {
    fn example() -> Self {
        CreditChanged {
            customer_id: "CUST-00123".into(),
            customer_type: CustomerType::B2b,
            change_type: CreditChangeType::BalanceDecreased,
            changed_at: ts("2026-02-13T12:00:01.250Z"),
            changed_by: "credit-worker".into(),
            previous_credit_limit: Some(dec("50000.00")),
            new_credit_limit: Some(dec("50000.00")),
            credit_limit: dec("50000.00"),
            available_credit: dec("48215.00"),
            credit_utilization: dec("3.57"),
            previous_balance: Some(dec("0.00")),
            new_balance: Some(dec("1785.00")),
            balance_change_amount: Some(dec("1785.00")),
            currency: "EUR".into(),
            payment_term: PaymentTerm::Net30,
        }
    }
}
