//! Wall-clock seconds as stored in token records.

use std::time::{SystemTime, UNIX_EPOCH};

/// Whole seconds since the Unix epoch (a `u32` holds them until 2106).
pub fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}
