//! serde adapters between chrono and Avro's date/time logical types.
//!
//! - `timestamp-millis` (long, UTC): `DateTime<Utc>` with `#[serde(with = "crate::time::millis")]`,
//!   optional with `crate::time::millis_opt`;
//! - `date` (int, days since 1970-01-01): `NaiveDate` with `crate::time::date`, optional with
//!   `crate::time::date_opt`.

/// `DateTime<Utc>` as Avro `timestamp-millis`.
pub mod millis {
    pub use chrono::serde::ts_milliseconds::{deserialize, serialize};
}

/// `Option<DateTime<Utc>>` as `["null", timestamp-millis]`.
pub mod millis_opt {
    pub use chrono::serde::ts_milliseconds_option::{deserialize, serialize};
}

fn epoch() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

fn to_days(date: &chrono::NaiveDate) -> Result<i32, String> {
    i32::try_from(date.signed_duration_since(epoch()).num_days())
        .map_err(|_| format!("date {date} is out of Avro date range"))
}

fn from_days(days: i32) -> Result<chrono::NaiveDate, String> {
    epoch()
        .checked_add_signed(chrono::Duration::days(i64::from(days)))
        .ok_or_else(|| format!("{days} days since 1970-01-01 is out of range"))
}

/// `NaiveDate` as Avro `date` (int days since the Unix epoch).
pub mod date {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize a date as days since 1970-01-01.
    pub fn serialize<S: Serializer>(date: &chrono::NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(super::to_days(date).map_err(serde::ser::Error::custom)?)
    }

    /// Deserialize days since 1970-01-01 into a date.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::NaiveDate, D::Error> {
        super::from_days(i32::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// `Option<NaiveDate>` as `["null", date]`.
pub mod date_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize an optional date as optional days since 1970-01-01.
    pub fn serialize<S: Serializer>(
        date: &Option<chrono::NaiveDate>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => {
                s.serialize_some(&super::to_days(date).map_err(serde::ser::Error::custom)?)
            }
            None => s.serialize_none(),
        }
    }

    /// Deserialize optional days since 1970-01-01.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<chrono::NaiveDate>, D::Error> {
        match Option::<i32>::deserialize(d)? {
            Some(days) => super::from_days(days)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// A UTC timestamp from RFC 3339 text, panicking on malformed input: for examples and tests.
pub fn ts(text: &str) -> chrono::DateTime<chrono::Utc> {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&chrono::Utc),
        Err(e) => panic!("bad timestamp literal {text:?}: {e}"),
    }
}

/// A date from `YYYY-MM-DD`, panicking on malformed input: for examples and tests.
pub fn day(text: &str) -> chrono::NaiveDate {
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) => d,
        Err(e) => panic!("bad date literal {text:?}: {e}"),
    }
}
