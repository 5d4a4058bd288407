//! The server's CPU time, for `--server-pid`: user + system time of a whole process (all
//! its threads) read from `/proc/PID/stat`, sampled when the measured phase starts and when
//! it ends, so the report can give the server's CPU per request without the prefill,
//! provisioning or warm-up. Touches nothing but that file; Linux only.

use std::time::{Duration, Instant};

/// `/proc/PID/stat` counts CPU time in USER_HZ ticks, which Linux fixes at 100 for every
/// architecture it exports the file on (it is part of the ABI, unlike the kernel's HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system) the process has used so far, or `None` if it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// utime + stime of a `/proc/PID/stat` line, in seconds. The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses, so fields are counted from the
/// last `)`: after it come state (field 3), …, utime (14) and stime (15).
fn parse_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// A sample taken at the start of the measured phase, on a thread of its own that sleeps
/// until then (the main thread is busy with the progress line).
pub struct StartSample(std::thread::JoinHandle<Option<(f64, Instant)>>);

impl StartSample {
    pub fn at(pid: u32, when: Instant) -> StartSample {
        StartSample(std::thread::spawn(move || {
            std::thread::sleep(when.saturating_duration_since(Instant::now()));
            Some((cpu_seconds(pid)?, Instant::now()))
        }))
    }

    /// CPU seconds and wall time from the start sample to now.
    pub fn until_now(self, pid: u32) -> Option<(f64, Duration)> {
        let (start, at) = self.0.join().ok()??;
        let end = cpu_seconds(pid)?;
        Some(((end - start).max(0.0), at.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_a_command_name_with_spaces_and_parentheses() {
        let line = "4242 (tessera (w) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 0 0 20 0 3 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat(line), Some(3.0));
    }

    #[test]
    fn a_truncated_line_gives_nothing() {
        assert_eq!(parse_stat("4242 (tessera) S 1 2 3"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_has_used_some_cpu_time() {
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_millis(30);
        while Instant::now() < until {
            x = x.wrapping_add(1);
        }
        assert!(x > 0);
        let used = cpu_seconds(std::process::id()).expect("own /proc stat");
        assert!(used > 0.0, "{used}");
    }
}
