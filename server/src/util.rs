//! Small helpers: the clock, random identifiers and constant-time comparison.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Unix time in milliseconds. A clock before 1970 reads as 0.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `n` bytes from the operating system's random number generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}

/// A random `u64` (for retry jitter).
pub fn random_u64() -> u64 {
    random_bytes::<8>().map(u64::from_le_bytes).unwrap_or(0)
}

/// `prefix` followed by base64url of 16 random bytes (128 bits): unguessable, and made only of
/// URL-unreserved characters, so it fits every ID rule in the core (return URL, handoff).
pub fn random_id(prefix: &str) -> Result<String, getrandom::Error> {
    let bytes = random_bytes::<16>()?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// i64 for SQLite from u64 (SQLite integers are signed); saturates far past year 9999.
pub fn to_sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// u64 from a SQLite integer; negative values (never written) read as 0.
pub fn from_sql_ms(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unreserved_and_distinct() {
        let a = random_id("auth_").unwrap();
        let b = random_id("auth_").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 22);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_')));
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
