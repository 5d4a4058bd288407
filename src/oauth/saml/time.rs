//! `xs:dateTime` (as SAML writes its times) to unix seconds. Pure: touches nothing but `std`.
//!
//! Accepted: `YYYY-MM-DDThh:mm:ss`, optional fraction (truncated: SAML times compare at
//! second precision here, the skew absorbs the rest), then `Z`, an offset `±hh:mm`, or no
//! zone at all (SAML core §1.3.3 says times are UTC "with no time zone component"). Times
//! before 1970 or after year 9999, hour 24 and leap second 60 are refused.

/// Unix seconds of an `xs:dateTime`, `None` when it is not one.
pub(super) fn parse_datetime(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    // Fixed part: YYYY-MM-DDThh:mm:ss (19 bytes).
    if b.len() < 19
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = b.get(19..)?;
    if rest.first() == Some(&b'.') {
        let frac = rest.get(1..)?;
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = frac.get(n..)?;
    }
    let offset: i64 = match rest {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits(&[*h1, *h2], 0, 2)?;
            let om = digits(&[*m1, *m2], 0, 2)?;
            if oh > 14 || om > 59 {
                return None;
            }
            let secs = i64::from(oh * 3600 + om * 60);
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let local = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    // 10:00+02:00 is 08:00Z.
    u64::try_from(local - offset).ok()
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at + n)?;
    part.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_datetime;

    #[test]
    fn utc_z_offsets_fractions_and_no_zone() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_datetime("2024-02-29T12:34:56Z"), Some(1_709_210_096));
        assert_eq!(
            parse_datetime("2024-02-29T12:34:56.789Z"),
            Some(1_709_210_096)
        );
        assert_eq!(parse_datetime("2024-02-29T12:34:56"), Some(1_709_210_096));
        assert_eq!(
            parse_datetime("2024-02-29T14:34:56+02:00"),
            Some(1_709_210_096)
        );
        assert_eq!(
            parse_datetime("2024-02-29T07:34:56-05:00"),
            Some(1_709_210_096)
        );
    }

    #[test]
    fn not_a_datetime_is_refused() {
        for bad in [
            "",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+2:00",
            "2024-01-01T00:00:00ZZ",
            "1969-12-31T23:59:59Z",
            "+2024-01-01T00:00:00Z",
            "２024-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }
}
