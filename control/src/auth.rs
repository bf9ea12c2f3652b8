//! Bearer tokens: one for workers, one for admin mutations. A missing or wrong token is refused with
//! `UNAUTHENTICATED`; with no token configured, every caller is let in.
//!
//! Besides the secret itself, a token accepts tokens *issued* from it that expire ([`Token::issue`],
//! `pacer token --ttl 15m`): `pacer1.<expiry>.<mac>`, where the expiry is in Unix seconds and the mac is
//! HMAC-SHA256 of `pacer1.<expiry>` keyed with the secret. A script or an operator can then be handed a
//! token that stops working by itself, without the secret and without a change to the control plane. An
//! issued token whose time is up is refused with a message that says so.

use hmac::{KeyInit, Mac};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tonic::Status;
use tonic::metadata::MetadataMap;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The prefix of issued tokens (and the version of their format).
const ISSUED: &str = "pacer1";

/// A bearer token that calls must carry, or none.
#[derive(Clone, Default)]
pub struct Token(Option<String>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token itself.
        f.write_str(if self.0.is_some() {
            "Token(set)"
        } else {
            "Token(none)"
        })
    }
}

impl Token {
    /// A token; an empty string means none.
    pub fn new(token: Option<String>) -> Self {
        Self(token.filter(|t| !t.is_empty()))
    }

    /// Whether a token is required.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Checks the `authorization: Bearer <token>` header of a call.
    pub fn check(&self, metadata: &MetadataMap, what: &str) -> Result<(), Status> {
        let Some(expected) = &self.0 else {
            return Ok(());
        };
        let Some(header) = metadata.get("authorization") else {
            return Err(Status::unauthenticated(format!(
                "{what} needs a bearer token (authorization: Bearer <token>)"
            )));
        };
        // The scheme is case-insensitive (RFC 9110); the token is not.
        let given = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .unwrap_or_default();
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return Ok(());
        }
        match check_issued(expected, given, SystemTime::now()) {
            Issued::Valid => Ok(()),
            Issued::Expired(at) => Err(Status::unauthenticated(format!(
                "the token for {what} expired at {} ({}s ago); issue a new one with `pacer token`",
                format_unix(at),
                unix_now(SystemTime::now()).saturating_sub(at)
            ))),
            Issued::Wrong => Err(Status::unauthenticated(format!("wrong token for {what}"))),
        }
    }

    /// A token issued from this one that is accepted until `ttl` from now; `None` if no token is set.
    pub fn issue(&self, ttl: Duration) -> Option<String> {
        self.issue_until(SystemTime::now() + ttl)
    }

    /// A token issued from this one that is accepted until `expires` (to the second).
    pub fn issue_until(&self, expires: SystemTime) -> Option<String> {
        let secret = self.0.as_ref()?;
        let payload = format!("{ISSUED}.{}", unix_now(expires));
        let mac = mac(secret, &payload).finalize().into_bytes();
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        Some(format!("{payload}.{hex}"))
    }
}

/// What an issued token is worth.
#[derive(Debug, PartialEq, Eq)]
enum Issued {
    Valid,
    /// Genuine, but its time was up at this Unix second.
    Expired(u64),
    /// Not issued from this secret, tampered with, or not an issued token at all.
    Wrong,
}

fn check_issued(secret: &str, given: &str, now: SystemTime) -> Issued {
    let Some((payload, hex)) = given.rsplit_once('.') else {
        return Issued::Wrong;
    };
    let Some(expires) = payload
        .strip_prefix(ISSUED)
        .and_then(|rest| rest.strip_prefix('.'))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return Issued::Wrong;
    };
    let Some(tag) = decode_hex(hex) else {
        return Issued::Wrong;
    };
    // The comparison inside `verify_slice` takes the same time wherever the tags differ.
    if mac(secret, payload).verify_slice(&tag).is_err() {
        return Issued::Wrong;
    }
    if unix_now(now) >= expires {
        Issued::Expired(expires)
    } else {
        Issued::Valid
    }
}

fn mac(secret: &str, payload: &str) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(payload.as_bytes());
    mac
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    // One spelling only: 64 lowercase hex digits.
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

fn unix_now(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn format_unix(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{seconds} (Unix time)"))
}

/// Compares without stopping at the first difference, so the time taken says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    fn with(header: Option<&'static str>) -> MetadataMap {
        let mut map = MetadataMap::new();
        if let Some(h) = header {
            map.insert("authorization", MetadataValue::from_static(h));
        }
        map
    }

    #[test]
    fn refuses_missing_and_wrong_tokens() {
        let token = Token::new(Some("s3cret".into()));
        assert!(token.check(&with(Some("Bearer s3cret")), "x").is_ok());
        assert!(token.check(&with(Some("bearer s3cret")), "x").is_ok());
        let missing = token.check(&with(None), "x").unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unauthenticated);
        let wrong = token.check(&with(Some("Bearer s3creT")), "x").unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
        assert!(token.check(&with(Some("s3cret")), "x").is_err());
        assert!(token.check(&with(Some("Bearer s3cret2")), "x").is_err());
    }

    #[test]
    fn issued_tokens_work_until_they_expire() {
        let token = Token::new(Some("s3cret".into()));
        let issued = token.issue(Duration::from_secs(60)).unwrap();
        assert!(issued.starts_with("pacer1."), "{issued}");
        let header = format!("Bearer {issued}");
        let mut map = MetadataMap::new();
        map.insert("authorization", header.parse().unwrap());
        assert!(token.check(&map, "x").is_ok());

        let past = SystemTime::now() - Duration::from_secs(5);
        let expired = token.issue_until(past).unwrap();
        let mut map = MetadataMap::new();
        map.insert(
            "authorization",
            format!("Bearer {expired}").parse().unwrap(),
        );
        let refused = token.check(&map, "admin changes").unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert!(
            refused.message().contains("expired at"),
            "{}",
            refused.message()
        );
        assert!(
            refused.message().contains("pacer token"),
            "{}",
            refused.message()
        );
    }

    #[test]
    fn issued_tokens_are_checked_against_the_secret_and_the_clock() {
        let now = SystemTime::now();
        let token = Token::new(Some("s3cret".into()));
        let issued = token.issue_until(now + Duration::from_secs(60)).unwrap();
        assert_eq!(check_issued("s3cret", &issued, now), Issued::Valid);
        // Another secret's token, a moved expiry, a changed tag, and junk are all wrong, not expired.
        assert_eq!(check_issued("other", &issued, now), Issued::Wrong);
        let (payload, tag) = issued.rsplit_once('.').unwrap();
        let later = payload.replace(
            &unix_now(now + Duration::from_secs(60)).to_string(),
            &unix_now(now + Duration::from_secs(6000)).to_string(),
        );
        assert_eq!(
            check_issued("s3cret", &format!("{later}.{tag}"), now),
            Issued::Wrong
        );
        let mut flipped = tag.to_owned();
        flipped.replace_range(0..1, if tag.starts_with('0') { "1" } else { "0" });
        assert_eq!(
            check_issued("s3cret", &format!("{payload}.{flipped}"), now),
            Issued::Wrong
        );
        // Other spellings of the same token are refused too.
        let (prefix, rest) = issued.split_at("pacer1.".len());
        let upper = format!("{prefix}{}", rest.to_uppercase());
        assert_eq!(check_issued("s3cret", &upper, now), Issued::Wrong);
        let plus = issued.replacen("pacer1.", "pacer1.+", 1);
        assert_eq!(check_issued("s3cret", &plus, now), Issued::Wrong);
        for junk in [
            "",
            "pacer1",
            "pacer1.x.y",
            "pacer1.1.zz",
            "pacer2.1.00",
            "pacer1..00",
        ] {
            assert_eq!(check_issued("s3cret", junk, now), Issued::Wrong, "{junk}");
        }
        // At the second it expires it is refused, and the answer names when.
        let at = now + Duration::from_secs(60);
        assert_eq!(
            check_issued("s3cret", &issued, at),
            Issued::Expired(unix_now(at))
        );
        assert!(format_unix(0).starts_with("1970-01-01T00:00:00"));
        // No secret, nothing to issue.
        assert_eq!(Token::new(None).issue(Duration::from_secs(1)), None);
    }

    #[test]
    fn no_token_lets_everyone_in() {
        let token = Token::new(Some(String::new()));
        assert!(!token.is_set());
        assert!(token.check(&with(None), "x").is_ok());
    }
}
