//! The registered claims of an assertion (RFC 7519 §4.1, RFC 7523 §3) — parsed strictly
//! from the payload — and [`check_claims`], the time and audience rules. The caller brings
//! the clock (`TimeRules::now`); nothing here reads it. No I/O.
//!
//! Time rules, with `skew` applied in the assertion's favour each time:
//! - expired when `now >= exp + skew` (RFC 7519 §4.1.4: "on or after which the JWT MUST NOT
//!   be accepted");
//! - not yet valid when `nbf > now + skew` (§4.1.5), or `iat > now + skew` (an assertion
//!   from the future);
//! - too long-lived when `exp - iat > max_lifetime`, or without `iat` when
//!   `exp - now > max_lifetime + skew` (RFC 7523 §3 item 4 lets the server bound how far in
//!   the future `exp` may be).
//!
//! NumericDates may be integers or floats (RFC 7519 §2); a fraction is rounded against the
//! assertion: `exp` down, `nbf` and `iat` up. Negative, non-finite or absurdly large values
//! (beyond 2^53, where a float is no longer exact) are refused.

use super::{ClaimName, JwtError};
use serde_json::{Map, Value};

/// Longest `iss`, `sub` and each `aud` entry, in bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// Longest `jti`, in bytes: it is kept in the store until the assertion expires.
pub const MAX_JTI_LEN: usize = 256;
/// Most entries in an `aud` array.
pub const MAX_AUDIENCES: usize = 32;
/// The largest NumericDate accepted (2^53: exactly representable as a float).
pub const MAX_NUMERIC_DATE: u64 = 1 << 53;

/// The registered claims of an assertion. Other claims are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    /// One entry when `aud` was a single string; never empty.
    pub aud: Vec<String>,
    pub exp: u64,
    pub nbf: Option<u64>,
    pub iat: Option<u64>,
    pub jti: Option<String>,
}

/// The clock and the limits [`check_claims`] applies, all in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRules {
    /// Seconds since the Unix epoch.
    pub now: u64,
    /// Clock skew tolerated between the issuer and this server.
    pub skew: u64,
    /// Longest accepted lifetime (`exp - iat`, or `exp - now` without `iat`).
    pub max_lifetime: u64,
}

/// Checks expiry, not-before, issued-at, lifetime and audience (exact string match against
/// any of `audiences`). The first failed check is returned.
pub fn check_claims(c: &Claims, audiences: &[&str], rules: TimeRules) -> Result<(), JwtError> {
    let TimeRules {
        now,
        skew,
        max_lifetime,
    } = rules;
    if now >= c.exp.saturating_add(skew) {
        return Err(JwtError::Expired);
    }
    if c.nbf.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
        return Err(JwtError::NotYetValid);
    }
    if c.iat.is_some_and(|iat| iat > now.saturating_add(skew)) {
        return Err(JwtError::IssuedInFuture);
    }
    let too_long = match c.iat {
        Some(iat) => c.exp.saturating_sub(iat) > max_lifetime,
        None => c.exp.saturating_sub(now) > max_lifetime.saturating_add(skew),
    };
    if too_long {
        return Err(JwtError::LifetimeTooLong);
    }
    if !c.aud.iter().any(|a| audiences.contains(&a.as_str())) {
        return Err(JwtError::AudienceMismatch);
    }
    Ok(())
}

impl Claims {
    /// The registered claims of a decoded payload object.
    pub(crate) fn from_object(obj: &Map<String, Value>) -> Result<Claims, JwtError> {
        Ok(Claims {
            iss: required(obj, ClaimName::Iss, |v| name(v, MAX_NAME_LEN))?,
            sub: required(obj, ClaimName::Sub, |v| name(v, MAX_NAME_LEN))?,
            aud: required(obj, ClaimName::Aud, audience)?,
            exp: required(obj, ClaimName::Exp, |v| numeric_date(v, Round::Down))?,
            nbf: optional(obj, ClaimName::Nbf, |v| numeric_date(v, Round::Up))?,
            iat: optional(obj, ClaimName::Iat, |v| numeric_date(v, Round::Up))?,
            jti: optional(obj, ClaimName::Jti, |v| name(v, MAX_JTI_LEN))?,
        })
    }
}

fn required<T>(
    obj: &Map<String, Value>,
    claim: ClaimName,
    parse: impl Fn(&Value) -> Option<T>,
) -> Result<T, JwtError> {
    let v = obj
        .get(claim.as_str())
        .ok_or(JwtError::MissingClaim(claim))?;
    parse(v).ok_or(JwtError::InvalidClaim(claim))
}

/// An absent claim is `None`; a present one (even `null`) must parse.
fn optional<T>(
    obj: &Map<String, Value>,
    claim: ClaimName,
    parse: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, JwtError> {
    match obj.get(claim.as_str()) {
        None => Ok(None),
        Some(v) => parse(v).map(Some).ok_or(JwtError::InvalidClaim(claim)),
    }
}

fn name(v: &Value, max: usize) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() && s.len() <= max => Some(s.clone()),
        _ => None,
    }
}

/// RFC 7519 §4.1.3: a string or an array of strings; an empty array names no audience.
fn audience(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(_) => Some(vec![name(v, MAX_NAME_LEN)?]),
        Value::Array(items) if !items.is_empty() && items.len() <= MAX_AUDIENCES => {
            items.iter().map(|item| name(item, MAX_NAME_LEN)).collect()
        }
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Round {
    Down,
    Up,
}

fn numeric_date(v: &Value, round: Round) -> Option<u64> {
    let Value::Number(n) = v else { return None };
    let secs = if let Some(u) = n.as_u64() {
        u
    } else {
        let f = n.as_f64()?;
        if !f.is_finite() || f < 0.0 || f > MAX_NUMERIC_DATE as f64 {
            return None;
        }
        // In range and finite, so the cast is exact after rounding.
        match round {
            Round::Down => f.floor() as u64,
            Round::Up => f.ceil() as u64,
        }
    };
    (secs <= MAX_NUMERIC_DATE).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::jose::json::parse_object;

    const AUD: &str = "https://as.example/api/oauth/token";
    const NOW: u64 = 1_700_000_000;

    fn rules() -> TimeRules {
        TimeRules {
            now: NOW,
            skew: 60,
            max_lifetime: 300,
        }
    }

    fn claims() -> Claims {
        Claims {
            iss: "partner-x".into(),
            sub: "alice".into(),
            aud: vec![AUD.into()],
            exp: NOW + 120,
            nbf: None,
            iat: Some(NOW),
            jti: Some("j1".into()),
        }
    }

    fn parse(json: &str) -> Result<Claims, JwtError> {
        Claims::from_object(&parse_object(json.as_bytes()).expect("object"))
    }

    #[test]
    fn valid_claims_pass() {
        assert_eq!(check_claims(&claims(), &[AUD], rules()), Ok(()));
    }

    #[test]
    fn rfc7519_4_1_4_expired_with_skew() {
        let mut c = claims();
        c.iat = None;
        c.exp = NOW - 59;
        assert_eq!(check_claims(&c, &[AUD], rules()), Ok(()), "within skew");
        c.exp = NOW - 60;
        assert_eq!(check_claims(&c, &[AUD], rules()), Err(JwtError::Expired));
        c.exp = 0;
        assert_eq!(check_claims(&c, &[AUD], rules()), Err(JwtError::Expired));
    }

    #[test]
    fn rfc7519_4_1_5_not_before_with_skew() {
        let mut c = claims();
        c.nbf = Some(NOW + 60);
        assert_eq!(check_claims(&c, &[AUD], rules()), Ok(()));
        c.nbf = Some(NOW + 61);
        assert_eq!(
            check_claims(&c, &[AUD], rules()),
            Err(JwtError::NotYetValid)
        );
    }

    #[test]
    fn rfc7519_4_1_6_issued_in_the_future_refused() {
        let mut c = claims();
        c.iat = Some(NOW + 61);
        assert_eq!(
            check_claims(&c, &[AUD], rules()),
            Err(JwtError::IssuedInFuture)
        );
    }

    #[test]
    fn rfc7523_3_lifetime_bounded_by_iat() {
        let mut c = claims();
        c.iat = Some(NOW - 10);
        c.exp = NOW - 10 + 300;
        assert_eq!(check_claims(&c, &[AUD], rules()), Ok(()));
        c.exp += 1;
        assert_eq!(
            check_claims(&c, &[AUD], rules()),
            Err(JwtError::LifetimeTooLong)
        );
    }

    #[test]
    fn rfc7523_3_lifetime_without_iat_bounded_by_now() {
        let mut c = claims();
        c.iat = None;
        c.exp = NOW + 360;
        assert_eq!(check_claims(&c, &[AUD], rules()), Ok(()));
        c.exp = NOW + 361;
        assert_eq!(
            check_claims(&c, &[AUD], rules()),
            Err(JwtError::LifetimeTooLong)
        );
        c.exp = u64::MAX;
        assert_eq!(
            check_claims(&c, &[AUD], rules()),
            Err(JwtError::LifetimeTooLong)
        );
    }

    #[test]
    fn rfc7523_3_audience_exact_match() {
        let mut c = claims();
        c.aud = vec!["https://other".into(), AUD.into()];
        assert_eq!(check_claims(&c, &[AUD], rules()), Ok(()));
        c.aud = vec![format!("{AUD}/"), AUD.to_uppercase()];
        assert_eq!(
            check_claims(&c, &[AUD], rules()),
            Err(JwtError::AudienceMismatch)
        );
        assert_eq!(
            check_claims(&claims(), &[], rules()),
            Err(JwtError::AudienceMismatch)
        );
    }

    #[test]
    fn audience_error_does_not_echo_the_audience() {
        assert!(!JwtError::AudienceMismatch.to_string().contains(AUD));
    }

    #[test]
    fn claims_parsed_with_string_or_array_audience_and_float_dates() {
        let c = parse(
            r#"{"iss":"i","sub":"s","aud":"a","exp":10.9,"nbf":1.1,"iat":2,"jti":"j","x":{}}"#,
        )
        .expect("claims");
        assert_eq!(
            c,
            Claims {
                iss: "i".into(),
                sub: "s".into(),
                aud: vec!["a".into()],
                exp: 10,
                nbf: Some(2),
                iat: Some(2),
                jti: Some("j".into()),
            }
        );
        let c = parse(r#"{"iss":"i","sub":"s","aud":["a","b"],"exp":1}"#).expect("claims");
        assert_eq!(c.aud, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!((c.nbf, c.iat, c.jti), (None, None, None));
    }

    #[test]
    fn missing_required_claims_named() {
        let all = r#""iss":"i","sub":"s","aud":"a","exp":1"#;
        for (claim, name) in [
            (ClaimName::Iss, "iss"),
            (ClaimName::Sub, "sub"),
            (ClaimName::Aud, "aud"),
            (ClaimName::Exp, "exp"),
        ] {
            let json: Vec<&str> = all
                .split(',')
                .filter(|m| !m.starts_with(&format!("\"{name}\"")))
                .collect();
            assert_eq!(
                parse(&format!("{{{}}}", json.join(","))),
                Err(JwtError::MissingClaim(claim))
            );
        }
    }

    #[test]
    fn invalid_claim_values_refused() {
        let long = "x".repeat(MAX_NAME_LEN + 1);
        let long_jti = "x".repeat(MAX_JTI_LEN + 1);
        let cases = [
            (r#""iss":1"#.to_owned(), ClaimName::Iss),
            (r#""iss":"""#.to_owned(), ClaimName::Iss),
            (format!(r#""iss":"{long}""#), ClaimName::Iss),
            (r#""sub":null"#.to_owned(), ClaimName::Sub),
            (r#""aud":[]"#.to_owned(), ClaimName::Aud),
            (r#""aud":["a",1]"#.to_owned(), ClaimName::Aud),
            (r#""aud":{}"#.to_owned(), ClaimName::Aud),
            (r#""exp":-1"#.to_owned(), ClaimName::Exp),
            (r#""exp":-0.5"#.to_owned(), ClaimName::Exp),
            (r#""exp":"1""#.to_owned(), ClaimName::Exp),
            (r#""exp":1e300"#.to_owned(), ClaimName::Exp),
            (r#""exp":18446744073709551615"#.to_owned(), ClaimName::Exp),
            (r#""nbf":null"#.to_owned(), ClaimName::Nbf),
            (r#""iat":true"#.to_owned(), ClaimName::Iat),
            (r#""jti":"""#.to_owned(), ClaimName::Jti),
            (format!(r#""jti":"{long_jti}""#), ClaimName::Jti),
        ];
        for (member, claim) in cases {
            let mut base = serde_json::json!({"iss":"i","sub":"s","aud":"a","exp":1});
            let patch: Value = serde_json::from_str(&format!("{{{member}}}")).expect("json");
            if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
                b.extend(p.clone());
            }
            assert_eq!(
                parse(&base.to_string()),
                Err(JwtError::InvalidClaim(claim)),
                "{member}"
            );
        }
    }
}
