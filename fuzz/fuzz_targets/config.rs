//! The configuration loader (src/config/load.rs): TOML text → `Config` → `validate()`.
//!
//! Property: any text is a config or a `ConfigError`, never a panic. Inputs that could name
//! a device or proc file are skipped (also through a TOML `\u` escape): validation reads the
//! key files a config names, and reading `/dev/zero` would only exhaust memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    const SKIP: [&str; 8] = [
        "/dev", "dev/", "/proc", "proc/", "/sys", "sys/", "\\u", "\\U",
    ];
    if SKIP.iter().any(|s| text.contains(s)) {
        return;
    }
    match Config::parse_with_warnings(text) {
        Ok((config, _)) => {
            let _ = config.worker_count();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
