//! Access tokens (HS256 JWTs, short-lived) and refresh tokens (opaque, random, stored only
//! as a SHA-256 hash).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use plexus_core::{DomainError, DomainResult};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Seconds an access token is still accepted after its `exp` (clock skew between
/// instances).
pub const EXPIRY_LEEWAY_SECS: i64 = 5;

/// Prefix of refresh tokens, so that secret scanners and people recognise them.
pub const REFRESH_PREFIX: &str = "plx_rt_";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user's uuid.
    pub sub: Uuid,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// The user's session version when issued; bumped by `logoutEverywhere` and password
    /// changes, which makes every older access token invalid.
    pub ver: i32,
    /// Always `access`: no other kind of token is accepted as a bearer token.
    pub typ: String,
}

/// The signing keys, built once from the configured secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    /// Keys for HS256 with this secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = EXPIRY_LEEWAY_SECS as u64;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs an access token for `user` valid until `expires_at`.
    pub fn issue(&self, user: Uuid, ver: i32, expires_at: DateTime<Utc>) -> DomainResult<String> {
        let claims = AccessClaims {
            sub: user,
            iat: Utc::now().timestamp(),
            exp: expires_at.timestamp(),
            ver,
            typ: "access".into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| DomainError::internal(format!("jwt encode: {e}")))
    }

    /// Verifies an access token: signature (HS256 only — `alg: none` and every other
    /// algorithm are refused), expiry and kind.
    pub fn verify(&self, token: &str) -> DomainResult<AccessClaims> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                DomainError::Unauthenticated(match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        "access token expired: refresh the session".into()
                    }
                    _ => "invalid access token".into(),
                })
            })?;
        if data.claims.typ != "access" {
            return Err(DomainError::Unauthenticated("invalid access token".into()));
        }
        Ok(data.claims)
    }
}

/// A new random refresh token (256 bits) and its stored hash.
pub fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// The stored form of a refresh token: hex SHA-256. A token is looked up by its hash, so
/// the database never holds a usable token and no comparison leaks timing about one.
pub fn hash_refresh_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random secret for signing, base64url text (used when none is configured).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"test-secret-test-secret-test-secret!")
    }

    #[test]
    fn issued_tokens_verify() {
        let user = Uuid::now_v7();
        let t = keys()
            .issue(user, 3, Utc::now() + Duration::minutes(15))
            .unwrap();
        let c = keys().verify(&t).unwrap();
        assert_eq!((c.sub, c.ver, c.typ.as_str()), (user, 3, "access"));
    }

    #[test]
    fn expired_tokens_are_refused_with_a_hint() {
        let t = keys()
            .issue(Uuid::now_v7(), 0, Utc::now() - Duration::hours(1))
            .unwrap();
        let e = keys().verify(&t).unwrap_err();
        assert_eq!(e.code(), "UNAUTHENTICATED");
        assert!(e.public_message().contains("expired"));
    }

    #[test]
    fn tokens_signed_with_another_secret_are_refused() {
        let other = TokenKeys::new(b"another-secret-another-secret-123");
        let t = other
            .issue(Uuid::now_v7(), 0, Utc::now() + Duration::minutes(5))
            .unwrap();
        assert_eq!(keys().verify(&t).unwrap_err().code(), "UNAUTHENTICATED");
    }

    #[test]
    fn alg_none_and_garbage_are_refused() {
        let claims = format!(
            r#"{{"sub":"{}","iat":0,"exp":{},"ver":0,"typ":"access"}}"#,
            Uuid::now_v7(),
            Utc::now().timestamp() + 600
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        );
        for bad in [none.as_str(), "", "a.b.c", "not a token", "plx_rt_abc"] {
            assert_eq!(
                keys().verify(bad).unwrap_err().code(),
                "UNAUTHENTICATED",
                "{bad}"
            );
        }
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, ha) = new_refresh_token();
        let (b, hb) = new_refresh_token();
        assert!(a.starts_with(REFRESH_PREFIX));
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert_eq!(ha.len(), 64);
        assert_eq!(hash_refresh_token(&a), ha);
        assert!(!ha.contains(&a[REFRESH_PREFIX.len()..]));
    }
}
