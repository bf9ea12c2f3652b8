//! Bearer tokens: one for workers, one for admin mutations. A missing or wrong token is refused with
//! `UNAUTHENTICATED`; with no token configured, every caller is let in.

use tonic::Status;
use tonic::metadata::MetadataMap;

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
            Ok(())
        } else {
            Err(Status::unauthenticated(format!("wrong token for {what}")))
        }
    }
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
    fn no_token_lets_everyone_in() {
        let token = Token::new(Some(String::new()));
        assert!(!token.is_set());
        assert!(token.check(&with(None), "x").is_ok());
    }
}
