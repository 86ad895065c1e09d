//! Exact decimals for money and fractional quantities: [`Decimal4`].
//!
//! Every decimal in weft's Avro schemas is `{"type": "bytes", "logicalType": "decimal",
//! "precision": 18, "scale": 4}` (the lint checks it). [`Decimal4`] is that contract as a Rust
//! value: an `i128` count of ten-thousandths, so `1785.00` is `17_850_000` units and nothing is
//! ever rounded.
//!
//! # Why this type and not `f64`, `apache_avro::Decimal` or `BigDecimal`
//!
//! - Floats cannot hold `0.10` exactly; money must survive every hop to the last digit.
//! - `apache_avro::Decimal` is only the raw two's-complement bytes: no arithmetic, no scale, no
//!   display, so processors could not compare a credit limit with an order total.
//! - `bigdecimal` (through `apache_avro::serde::bigdecimal`) serialises Avro's *big-decimal*
//!   logical type (the scale travels inside the bytes), which is a different wire format from the
//!   `decimal` logical type that Confluent clients and the seeds' Java/TS ports expect.
//!
//! # How it meets apache-avro 0.22's serde path
//!
//! For non-human-readable serializers (Avro's default; `crate::codec` pins it) a `Decimal4`
//! serialises as `serialize_bytes` of the minimal big-endian two's-complement unscaled value.
//! apache-avro's schema-aware serializer (`GenericDatumWriter::write_ser`) writes such bytes for a
//! `decimal` schema unchanged, and decoding gives `Value::Decimal`, which `from_value` hands back
//! through `visit_bytes`. The scale is implied by the type (always 4), exactly like the schema.
//! Values with more than 18 significant digits are refused instead of being truncated.
//!
//! For human-readable formats (JSON, YAML) it serialises as the decimal string `"1785.0000"` and
//! reads strings or JSON numbers, so a payload printed by the console stays exact and readable.
//!
//! Note: `apache_avro::to_value` turns a `Decimal4` into `Value::Bytes`, and
//! `GenericDatumWriter::write_value` refuses `Value::Bytes` for a `decimal` schema (and
//! `Value::resolve` demands as many bytes as the precision could need). Encode typed events with
//! [`crate::codec::encode`] (schema-aware serializer), or call [`crate::codec::to_avro_value`],
//! which converts those bytes into `Value::Decimal` where the schema says decimal.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ContractsError;

/// Ten to the power of the scale: units per whole.
const UNITS_PER_ONE: i128 = 10_000;
/// The largest magnitude in units that still fits precision 18 (18 nines).
const MAX_UNITS: i128 = 999_999_999_999_999_999;

/// An exact decimal with four fractional digits: Avro `decimal(18,4)` as bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Decimal4(i128);

impl Decimal4 {
    /// Digits after the decimal point, as in every weft schema.
    pub const SCALE: u32 = 4;
    /// Total significant digits, as in every weft schema.
    pub const PRECISION: u32 = 18;
    /// Zero.
    pub const ZERO: Decimal4 = Decimal4(0);

    /// From a count of ten-thousandths (the unscaled Avro value): `from_units(15)` is `0.0015`.
    pub fn from_units(units: i128) -> Result<Self, ContractsError> {
        if units.abs() > MAX_UNITS {
            return Err(ContractsError::Decimal {
                value: format!("{units} units"),
                problem: "exceeds precision 18".to_string(),
            });
        }
        Ok(Decimal4(units))
    }

    /// A whole number: `from_int(10)` is `10.0000`.
    pub fn from_int(value: i64) -> Self {
        // |i64| * 10^4 < 10^23 fits i128; precision 18 is checked on encode.
        Decimal4(i128::from(value) * UNITS_PER_ONE)
    }

    /// The unscaled value, in ten-thousandths.
    pub fn units(self) -> i128 {
        self.0
    }

    /// Sum, `None` when it leaves precision 18.
    pub fn checked_add(self, other: Decimal4) -> Option<Decimal4> {
        Decimal4::from_units(self.0.checked_add(other.0)?).ok()
    }

    /// Difference, `None` when it leaves precision 18.
    pub fn checked_sub(self, other: Decimal4) -> Option<Decimal4> {
        Decimal4::from_units(self.0.checked_sub(other.0)?).ok()
    }

    /// Times a whole number (a quantity), `None` when it leaves precision 18.
    pub fn checked_mul_int(self, factor: i64) -> Option<Decimal4> {
        Decimal4::from_units(self.0.checked_mul(i128::from(factor))?).ok()
    }

    /// Is this below zero?
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The minimal big-endian two's-complement bytes of the unscaled value (Avro's decimal
    /// encoding).
    pub fn to_avro_bytes(self) -> Result<Vec<u8>, ContractsError> {
        Decimal4::from_units(self.0)?;
        let full = self.0.to_be_bytes();
        // Drop leading bytes that are pure sign extension.
        let mut start = 0;
        while start < full.len() - 1 {
            let byte = full[start];
            let next_high_bit = full[start + 1] & 0x80;
            let redundant =
                (byte == 0x00 && next_high_bit == 0) || (byte == 0xff && next_high_bit != 0);
            if !redundant {
                break;
            }
            start += 1;
        }
        Ok(full[start..].to_vec())
    }

    /// From Avro's big-endian two's-complement bytes of the unscaled value.
    pub fn from_avro_bytes(bytes: &[u8]) -> Result<Self, ContractsError> {
        if bytes.is_empty() {
            return Ok(Decimal4::ZERO);
        }
        if bytes.len() > 16 {
            return Err(ContractsError::Decimal {
                value: format!("{} bytes", bytes.len()),
                problem: "longer than 16 bytes".to_string(),
            });
        }
        let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0x00 };
        let mut full = [fill; 16];
        full[16 - bytes.len()..].copy_from_slice(bytes);
        Decimal4::from_units(i128::from_be_bytes(full))
    }
}

impl fmt::Display for Decimal4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / UNITS_PER_ONE as u128;
        let frac = abs % UNITS_PER_ONE as u128;
        write!(f, "{sign}{whole}.{frac:04}")
    }
}

impl fmt::Debug for Decimal4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal4({self})")
    }
}

impl FromStr for Decimal4 {
    type Err = ContractsError;

    /// Parse `"1785.00"`, `"-0.5"`, `"42"`. More than four fractional digits are refused unless
    /// they are zeros; nothing is rounded.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |problem: &str| ContractsError::Decimal {
            value: text.to_string(),
            problem: problem.to_string(),
        };
        let trimmed = text.trim();
        let (negative, digits) = match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
        };
        let (whole, frac) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(bad("no digits"));
        }
        if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad("not a plain decimal number"));
        }
        let frac_significant = frac.trim_end_matches('0');
        if frac_significant.len() > Decimal4::SCALE as usize {
            return Err(bad(
                "more than 4 fractional digits; weft decimals have scale 4",
            ));
        }
        let whole_digits = whole.trim_start_matches('0');
        if whole_digits.len() > (Decimal4::PRECISION - Decimal4::SCALE) as usize {
            return Err(bad(
                "more than 14 integer digits; weft decimals have precision 18",
            ));
        }
        let whole_value: i128 = if whole_digits.is_empty() {
            0
        } else {
            whole_digits.parse().map_err(|_| bad("not a number"))?
        };
        let mut frac_value: i128 = 0;
        for (i, c) in frac_significant.chars().enumerate() {
            let digit = i128::from(c.to_digit(10).unwrap_or(0));
            frac_value += digit * 10_i128.pow(Decimal4::SCALE - 1 - i as u32);
        }
        let units = whole_value * UNITS_PER_ONE + frac_value;
        Decimal4::from_units(if negative { -units } else { units })
    }
}

impl Serialize for Decimal4 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_string())
        } else {
            let bytes = self.to_avro_bytes().map_err(serde::ser::Error::custom)?;
            serializer.serialize_bytes(&bytes)
        }
    }
}

impl<'de> Deserialize<'de> for Decimal4 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DecimalVisitor;

        impl<'de> Visitor<'de> for DecimalVisitor {
            type Value = Decimal4;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Avro decimal bytes, a decimal string or a number")
            }

            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Decimal4, E> {
                Decimal4::from_avro_bytes(v).map_err(E::custom)
            }

            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Decimal4, E> {
                self.visit_bytes(&v)
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Decimal4, A::Error> {
                let mut bytes = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                self.visit_bytes(&bytes)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal4, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal4, E> {
                Ok(Decimal4::from_int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal4, E> {
                let v = i64::try_from(v).map_err(E::custom)?;
                Ok(Decimal4::from_int(v))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal4, E> {
                // JSON numbers such as 150.00 reach us as f64; their shortest text form is exact
                // for anything with at most four fractional digits.
                v.to_string().parse().map_err(E::custom)
            }
        }

        if deserializer.is_human_readable() {
            deserializer.deserialize_any(DecimalVisitor)
        } else {
            deserializer.deserialize_bytes(DecimalVisitor)
        }
    }
}

/// `Decimal4` literal from a string, panicking on a malformed literal: for examples and tests.
///
/// ```
/// use weft_contracts::dec;
/// assert_eq!(dec("1785.00").to_string(), "1785.0000");
/// ```
pub fn dec(text: &str) -> Decimal4 {
    match text.parse() {
        Ok(d) => d,
        Err(e) => panic!("bad decimal literal {text:?}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_exactly() {
        assert_eq!(dec("1785.00").units(), 17_850_000);
        assert_eq!(dec("-0.5").to_string(), "-0.5000");
        assert_eq!(dec("0.0001").units(), 1);
        assert_eq!(dec("42").to_string(), "42.0000");
        assert_eq!(dec("1.23450").units(), 12_345);
        assert!("1.00001".parse::<Decimal4>().is_err());
        assert!("12345678901234567.0".parse::<Decimal4>().is_err());
        assert!("1e5".parse::<Decimal4>().is_err());
        assert!("".parse::<Decimal4>().is_err());
        assert_eq!(dec("99999999999999.9999").units(), MAX_UNITS);
    }

    #[test]
    fn avro_bytes_are_minimal_twos_complement() {
        assert_eq!(dec("0").to_avro_bytes().unwrap(), vec![0]);
        assert_eq!(Decimal4(127).to_avro_bytes().unwrap(), vec![0x7f]);
        assert_eq!(Decimal4(128).to_avro_bytes().unwrap(), vec![0x00, 0x80]);
        assert_eq!(Decimal4(-1).to_avro_bytes().unwrap(), vec![0xff]);
        assert_eq!(Decimal4(-129).to_avro_bytes().unwrap(), vec![0xff, 0x7f]);
        for units in [
            0, 1, -1, 127, 128, -128, -129, 17_850_000, -MAX_UNITS, MAX_UNITS,
        ] {
            let d = Decimal4(units);
            assert_eq!(
                Decimal4::from_avro_bytes(&d.to_avro_bytes().unwrap()).unwrap(),
                d
            );
        }
        assert!(Decimal4(MAX_UNITS + 1).to_avro_bytes().is_err());
    }

    #[test]
    fn json_is_a_decimal_string() {
        let json = serde_json::to_string(&dec("150.10")).unwrap();
        assert_eq!(json, "\"150.1000\"");
        let back: Decimal4 = serde_json::from_str(&json).unwrap();
        assert_eq!(back, dec("150.1"));
        let from_number: Decimal4 = serde_json::from_str("285.00").unwrap();
        assert_eq!(from_number, dec("285"));
    }

    #[test]
    fn arithmetic_is_exact_and_checked() {
        assert_eq!(dec("0.1").checked_add(dec("0.2")), Some(dec("0.3")));
        assert_eq!(dec("150.00").checked_mul_int(10), Some(dec("1500")));
        assert_eq!(dec("1").checked_sub(dec("1.5")), Some(dec("-0.5")));
        assert!(Decimal4(MAX_UNITS).checked_add(dec("0.0001")).is_none());
    }
}
