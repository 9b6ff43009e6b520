//! Password hashing with argon2id. Hashing is CPU-heavy, so it runs on the blocking pool.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use plexus_core::{DomainError, DomainResult};
use std::sync::OnceLock;

/// Hashes a password into a PHC string (`$argon2id$v=19$…`) with a fresh salt.
pub async fn hash(password: String) -> DomainResult<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(DomainError::internal)?
}

/// Checks a password against a stored PHC string.
pub async fn verify(password: String, phc: String) -> DomainResult<bool> {
    tokio::task::spawn_blocking(move || verify_blocking(&password, &phc))
        .await
        .map_err(DomainError::internal)?
}

/// Spends the time of one verification without a stored hash, so that an unknown account
/// costs what a wrong password costs.
pub async fn verify_dummy(password: String) -> DomainResult<()> {
    let phc = dummy_hash()?.to_string();
    verify(password, phc).await.map(|_| ())
}

fn dummy_hash() -> DomainResult<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h);
    }
    let h = hash_blocking("plexus-dummy-password-for-timing")?;
    Ok(DUMMY.get_or_init(|| h))
}

fn hash_blocking(password: &str) -> DomainResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| DomainError::internal(format!("argon2 hash: {e}")))
}

fn verify_blocking(password: &str, phc: &str) -> DomainResult<bool> {
    let parsed =
        PasswordHash::new(phc).map_err(|e| DomainError::internal(format!("stored hash: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery".into()).await.unwrap();
        let b = hash("correct horse battery".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(
            verify("correct horse battery".into(), a.clone())
                .await
                .unwrap()
        );
        assert!(!verify("correct horse battery!".into(), a).await.unwrap());
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_an_internal_error() {
        let e = verify("x".into(), "not-a-phc-string".into())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "INTERNAL");
    }

    #[tokio::test]
    async fn dummy_verification_succeeds_quietly() {
        verify_dummy("whatever".into()).await.unwrap();
    }
}
