//! Search cursors, the same for every backend: the lowercase hex of
//! `received_at:id` of a page's last row.

use crate::{Millis, StoreError};

pub(crate) fn encode_cursor(received_at: Millis, id: &str) -> String {
    format!("{received_at}:{id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<(Millis, String), StoreError> {
    let hex = cursor.as_bytes();
    if hex.is_empty() || hex.len() % 2 == 1 || hex.len() > 2048 {
        return Err(StoreError::BadCursor);
    }
    let digit = |c: u8| (c as char).to_digit(16).ok_or(StoreError::BadCursor);
    let bytes = hex
        .chunks_exact(2)
        .map(|p| Ok((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect::<Result<Vec<u8>, StoreError>>()?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
    let (at, id) = text.split_once(':').ok_or(StoreError::BadCursor)?;
    let at: Millis = at.parse().map_err(|_| StoreError::BadCursor)?;
    if id.is_empty() {
        return Err(StoreError::BadCursor);
    }
    Ok((at, id.to_string()))
}
