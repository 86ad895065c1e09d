//! `FORECAST_GENERATED`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::day;
use crate::Example;

crate::avro_enum! {
    /// Forecasting model.
    pub enum ForecastModelType { Baseline = "BASELINE"; default Unknown = "UNKNOWN" }
}

/// A demand forecast was generated (Avro `composerp.forecast.ForecastGenerated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastGenerated {
    /// The forecast (UUID, the aggregateId).
    pub forecast_id: String,
    /// Item (UUID); the Kafka key.
    pub item_id: String,
    /// Location (UUID).
    pub location_id: String,
    /// Model.
    pub model_type: ForecastModelType,
    /// Forecast points.
    pub forecast_count: i32,
    /// First day.
    #[serde(with = "crate::time::date")]
    pub start_date: NaiveDate,
    /// Last day.
    #[serde(with = "crate::time::date")]
    pub end_date: NaiveDate,
}

contract!(ForecastGenerated, schema: "composerp.forecast.ForecastGenerated", topic: "composerp.forecast.generated.v1",
    event_type: "FORECAST_GENERATED", version: EVENT_VERSION, priority: Normal, key: item_id);

impl Example for ForecastGenerated {
    fn example() -> Self {
        ForecastGenerated {
            forecast_id: "9a0b1c2d-3e4f-4a5b-86c7-d8e9f0a1b2c3".into(),
            item_id: "1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b".into(),
            location_id: "2f3e4d5c-6b7a-4899-8a7b-6c5d4e3f2a1b".into(),
            model_type: ForecastModelType::Baseline,
            forecast_count: 30,
            start_date: day("2026-02-10"),
            end_date: day("2026-03-11"),
        }
    }
}
