//! Who may call what: writes always need the API token (`Authorization: Bearer TOKEN`);
//! reads need it only with `read_access = "token"`. Tokens are compared in constant time.

use axum::http::HeaderMap;

use crate::controller::config::{ReadAccess, ServerConfig};

/// Whether the request carries the API token.
pub fn has_token(config: &ServerConfig, headers: &HeaderMap) -> bool {
    let Some(token) = &config.api_token else { return false };
    let Some(given) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes())
}

/// Whether the request may read.
pub fn may_read(config: &ServerConfig, headers: &HeaderMap) -> bool {
    config.read_access == ReadAccess::Open || has_token(config, headers)
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |difference, (x, y)| difference | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
