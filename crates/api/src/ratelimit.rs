//! Throttling of `login` and `register`: failed sign-ins per account, attempts per client
//! address. In memory, per process, with a bounded number of tracked keys.
//!
//! The account key is the email as typed (trimmed, lower-cased), whether or not an account
//! exists, so a throttled unknown email and a throttled known one get the same answer.
//! The lock is a plain mutex held for a few map operations, never across an await.

use async_graphql::Context;
use plexus_core::DomainError;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiResult;

/// The address of the client that sent the request (request data); `None` when unknown.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientAddr(pub Option<IpAddr>);

/// The limits; a zero count disables that limit.
#[derive(Debug, Clone, Copy)]
pub struct AuthLimits {
    /// Failed sign-ins per account in `failure_window` before `login` is refused.
    pub login_max_failures: u32,
    /// The window of `login_max_failures`.
    pub failure_window: Duration,
    /// `login` attempts per client address in `ip_window`.
    pub login_max_per_ip: u32,
    /// `register` attempts per client address in `ip_window`.
    pub register_max_per_ip: u32,
    /// The window of the per-address limits.
    pub ip_window: Duration,
    /// Most keys tracked at once; beyond it, expired and then single-hit keys are dropped.
    pub max_keys: usize,
}

impl Default for AuthLimits {
    fn default() -> Self {
        Self {
            login_max_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            login_max_per_ip: 20,
            register_max_per_ip: 10,
            ip_window: Duration::from_secs(60),
            max_keys: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(Box<str>),
    LoginAddr(IpAddr),
    RegisterAddr(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    len: Duration,
    count: u32,
}

impl Window {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.start) >= self.len
    }

    fn retry_after(&self, now: Instant) -> u64 {
        let left = self.len.saturating_sub(now.duration_since(self.start));
        (left.as_millis().div_ceil(1000) as u64).max(1)
    }
}

/// Fixed-window counters for sign-in and sign-up.
#[derive(Debug)]
pub struct AuthLimiter {
    limits: AuthLimits,
    windows: Mutex<HashMap<Key, Window>>,
}

const LOGIN_MESSAGE: &str = "too many sign-in attempts; try again later";
const REGISTER_MESSAGE: &str = "too many sign-up attempts; try again later";

impl AuthLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: AuthLimits) -> Self {
        Self {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn with_map<T>(&self, f: impl FnOnce(&mut HashMap<Key, Window>) -> T) -> T {
        let mut map = match self.windows.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut map)
    }

    /// Refuses a `login` when the account or the address is throttled; otherwise counts the
    /// attempt against the address. Call `login_finished` with the outcome afterwards.
    pub fn check_login(&self, email: &str, addr: Option<IpAddr>) -> Result<(), DomainError> {
        let now = Instant::now();
        let account = account_key(email);
        let limits = self.limits;
        self.with_map(|map| {
            let refuse = |w: &Window| DomainError::RateLimited {
                message: LOGIN_MESSAGE.into(),
                retry_after_secs: w.retry_after(now),
            };
            if limits.login_max_failures > 0
                && let Some(w) = map.get(&account)
                && !w.expired(now)
                && w.count >= limits.login_max_failures
            {
                return Err(refuse(w));
            }
            // Counted as a failure now, cleared on success: concurrent attempts cannot all
            // pass the check before the first failure is recorded.
            if limits.login_max_failures > 0 {
                hit(map, account, limits.failure_window, limits.max_keys, now);
            }
            if let Some(ip) = addr
                && limits.login_max_per_ip > 0
            {
                let w = hit(
                    map,
                    Key::LoginAddr(ip),
                    limits.ip_window,
                    limits.max_keys,
                    now,
                );
                if w.count > limits.login_max_per_ip {
                    return Err(refuse(&w));
                }
            }
            Ok(())
        })
    }

    /// True right after the failure that locked `email` out (its window just reached the
    /// limit), so a lockout is reported once per window.
    pub fn account_lockout_started(&self, email: &str) -> bool {
        let max = self.limits.login_max_failures;
        let account = account_key(email);
        let now = Instant::now();
        max > 0
            && self.with_map(|map| {
                map.get(&account)
                    .is_some_and(|w| !w.expired(now) && w.count == max)
            })
    }

    /// True on the first refused attempt of a throttled address in its window.
    pub fn address_lockout_started(&self, ip: IpAddr) -> bool {
        let max = self.limits.login_max_per_ip;
        let now = Instant::now();
        max > 0
            && self.with_map(|map| {
                map.get(&Key::LoginAddr(ip))
                    .is_some_and(|w| !w.expired(now) && w.count == max.saturating_add(1))
            })
    }

    /// Records a successful `login`: it clears the account's failures. (Every attempt was
    /// counted as a failure by `check_login`.)
    pub fn login_succeeded(&self, email: &str) {
        if self.limits.login_max_failures == 0 {
            return;
        }
        let account = account_key(email);
        self.with_map(|map| map.remove(&account));
    }

    /// Refuses a `register` when the address is throttled; otherwise counts the attempt.
    pub fn check_register(&self, addr: Option<IpAddr>) -> Result<(), DomainError> {
        let (Some(ip), max) = (addr, self.limits.register_max_per_ip) else {
            return Ok(());
        };
        if max == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let limits = self.limits;
        self.with_map(|map| {
            let w = hit(
                map,
                Key::RegisterAddr(ip),
                limits.ip_window,
                limits.max_keys,
                now,
            );
            if w.count > max {
                Err(DomainError::RateLimited {
                    message: REGISTER_MESSAGE.into(),
                    retry_after_secs: w.retry_after(now),
                })
            } else {
                Ok(())
            }
        })
    }

    /// How many keys are tracked (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.with_map(|m| m.len())
    }
}

/// Longest account key kept: no email is longer, and the key's memory stays bounded.
const MAX_KEY_BYTES: usize = 320;

fn account_key(email: &str) -> Key {
    let mut key = email.trim().to_lowercase();
    if key.len() > MAX_KEY_BYTES {
        let mut end = MAX_KEY_BYTES;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    Key::Account(key.into_boxed_str())
}

/// Counts one hit on `key`, starting a new window when the old one has expired.
fn hit(
    map: &mut HashMap<Key, Window>,
    key: Key,
    len: Duration,
    max_keys: usize,
    now: Instant,
) -> Window {
    if !map.contains_key(&key) && map.len() >= max_keys {
        evict(map, max_keys, now);
    }
    let w = map.entry(key).or_insert(Window {
        start: now,
        len,
        count: 0,
    });
    if w.expired(now) {
        *w = Window {
            start: now,
            len,
            count: 0,
        };
    }
    w.count = w.count.saturating_add(1);
    *w
}

/// Makes room: drops expired windows, then single hits, then arbitrary keys down to half the
/// capacity, so eviction work is amortised over many inserts.
fn evict(map: &mut HashMap<Key, Window>, max_keys: usize, now: Instant) {
    let target = max_keys / 2;
    map.retain(|_, w| !w.expired(now));
    if map.len() > target {
        map.retain(|_, w| w.count > 1);
    }
    if map.len() > target {
        let excess = map.len() - target;
        let victims: Vec<Key> = map.keys().take(excess).cloned().collect();
        for k in victims {
            map.remove(&k);
        }
    }
}

fn limiter_and_addr<'a>(ctx: &Context<'a>) -> ApiResult<(&'a AuthLimiter, Option<IpAddr>)> {
    let st = crate::context::state(ctx)?;
    let addr = ctx.data_opt::<ClientAddr>().and_then(|a| a.0);
    Ok((&st.limiter, addr))
}

/// Runs a sign-in under the limits: refused before any work when throttled, and counted.
pub async fn throttled_login<T>(
    ctx: &Context<'_>,
    email: &str,
    login: impl Future<Output = Result<T, DomainError>>,
) -> ApiResult<T> {
    let (limiter, addr) = limiter_and_addr(ctx)?;
    if let Err(refused) = limiter.check_login(email, addr) {
        if let Some(ip) = addr
            && limiter.address_lockout_started(ip)
        {
            let meta = serde_json::json!({ "address": ip.to_string() });
            log_lockout(ctx, "sign-ins throttled for a client address", meta).await;
        }
        return Err(refused.into());
    }
    let result = login.await;
    match &result {
        Ok(_) => limiter.login_succeeded(email),
        Err(_) if limiter.account_lockout_started(email) => {
            let meta = serde_json::json!({ "email": email.trim().to_lowercase() });
            log_lockout(
                ctx,
                "sign-ins locked for an account after repeated failures",
                meta,
            )
            .await;
        }
        Err(_) => {}
    }
    Ok(result?)
}

/// Records a lockout in the system logs (category `auth`); a failure to write it is logged,
/// not returned: the sign-in answer does not depend on it.
async fn log_lockout(ctx: &Context<'_>, message: &str, metadata: serde_json::Value) {
    let Ok(st) = crate::context::state(ctx) else {
        return;
    };
    let level = plexus_agents::logs::LogLevel::Warn;
    if let Err(e) = st
        .agents
        .log_server_event(level, "auth", message, Some(metadata))
        .await
    {
        tracing::warn!(error = ?e, "could not record a lockout in the system logs");
    }
}

/// Runs a sign-up under the per-address limit.
pub async fn throttled_register<T>(
    ctx: &Context<'_>,
    register: impl Future<Output = Result<T, DomainError>>,
) -> ApiResult<T> {
    let (limiter, addr) = limiter_and_addr(ctx)?;
    limiter.check_register(addr)?;
    Ok(register.await?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limits() -> AuthLimits {
        AuthLimits {
            login_max_failures: 2,
            failure_window: Duration::from_secs(60),
            login_max_per_ip: 3,
            register_max_per_ip: 1,
            ip_window: Duration::from_secs(60),
            max_keys: 8,
        }
    }

    #[test]
    fn failures_throttle_the_account_and_success_resets() {
        let l = AuthLimiter::new(limits());
        l.check_login("A@x.io", None).unwrap();
        l.login_succeeded("a@x.io ");
        l.check_login("a@x.io", None).unwrap();
        // Two attempts in flight at once: the third is refused before either finishes.
        l.check_login("a@x.io", None).unwrap();
        let e = l.check_login("a@X.io", None).unwrap_err();
        assert!(
            matches!(e, DomainError::RateLimited { retry_after_secs, .. } if (1..=60).contains(&retry_after_secs))
        );
        l.check_login("b@x.io", None).unwrap();
    }

    #[test]
    fn addresses_are_counted_per_attempt() {
        let l = AuthLimiter::new(limits());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..3 {
            l.check_login(&format!("x{i}@x.io"), Some(ip)).unwrap();
        }
        assert!(l.check_login("y@x.io", Some(ip)).is_err());
        l.check_register(Some(ip)).unwrap();
        assert!(l.check_register(Some(ip)).is_err());
    }

    #[test]
    fn long_emails_are_truncated_keys() {
        let Key::Account(k) = account_key(&"é".repeat(1000)) else {
            unreachable!()
        };
        assert!(k.len() <= MAX_KEY_BYTES);
    }

    #[test]
    fn memory_is_bounded() {
        let l = AuthLimiter::new(limits());
        for i in 0..1000 {
            l.check_login(&format!("u{i}@x.io"), None).unwrap();
            assert!(l.tracked_keys() <= 8);
        }
    }
}
