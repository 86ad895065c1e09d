//! The Confluent wire format: one magic byte `0`, a big-endian 4-byte schema id, then the Avro body.

use crate::CoreError;

/// The magic byte that starts every Confluent-framed value.
pub const MAGIC: u8 = 0;

/// Splits a framed record into its schema id and body, or says what is wrong with it.
pub fn split(bytes: &[u8]) -> Result<(u32, &[u8]), CoreError> {
    match bytes {
        [] => Err(CoreError::BadFrame("the value is empty".into())),
        [m, ..] if *m != MAGIC => Err(CoreError::BadFrame(format!(
            "magic byte is {m:#04x}, expected 0x00"
        ))),
        [_, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        _ => Err(CoreError::BadFrame(format!(
            "{} bytes is shorter than the 5-byte header",
            bytes.len()
        ))),
    }
}

/// Frames an Avro body with its schema id.
pub fn frame(schema_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(MAGIC);
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_frames_are_named() {
        let framed = frame(258, b"body");
        assert_eq!(split(&framed).unwrap(), (258, &b"body"[..]));
        assert!(split(&[]).unwrap_err().to_string().contains("empty"));
        assert!(split(&[1, 0, 0, 0, 1])
            .unwrap_err()
            .to_string()
            .contains("0x01"));
        assert!(split(&[0, 0]).unwrap_err().to_string().contains("shorter"));
    }
}
