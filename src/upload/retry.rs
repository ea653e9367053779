//! When an upload attempt is retried, and after how long: the one decision the browser's
//! uploader (`web::upload`), the server's load client and the fault-injection tests share.
//!
//! An upload carries an Idempotency-Key and the server stores one result per key, so sending
//! it again is always safe; what matters is sending again only when it can help:
//!
//! - no HTTP answer (network error, reset, timeout): the request may or may not have arrived,
//!   so retry; if it was stored, the retry gets the stored answer back;
//! - `408`, `5xx`: the server could not finish now; retry;
//! - `429 rate_limited`: retry, not before the `Retry-After` the server sent;
//! - `409 upload_in_progress`: an earlier attempt with this key is still being decided (its
//!   response was lost on the way); retry to collect its answer;
//! - any other answer (2xx: done; 4xx: refused — bad envelope, expired session, too many
//!   failed checks …): stop.
//!
//! Delays follow [`retry_delay_ms`] (exponential backoff with equal jitter) under
//! [`UPLOAD_RETRY`], raised to the server's `Retry-After` but never above the policy's cap.
//! Pure: the caller passes the attempt's outcome and a random number in.

use crate::webhook::{retry_delay_ms, RetryPolicy};

/// The browser's upload schedule: 8 attempts in all, the n-th retry after a delay drawn from
/// `[cap/2, cap]` with `cap` = 1, 2, 4, 8, 15, 15, 15 s.
pub const UPLOAD_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 8,
    base_delay_ms: 1_000,
    max_delay_ms: 15_000,
};

/// The server's code for a key whose first attempt is still being decided.
pub const UPLOAD_IN_PROGRESS: &str = "upload_in_progress";
/// The server's code for a request refused by a request-rate limit (worth retrying later).
pub const RATE_LIMITED: &str = "rate_limited";

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome<'a> {
    /// No HTTP answer: the connection failed or was cut, or the attempt timed out.
    NoAnswer,
    /// An HTTP answer.
    Answer {
        /// The status code.
        status: u16,
        /// `error.code` of an error body, when there is one.
        code: Option<&'a str>,
        /// The `Retry-After` header in milliseconds (see [`parse_retry_after_ms`]).
        retry_after_ms: Option<u64>,
    },
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// A 2xx answer: the upload is done (stored now or before).
    Done,
    /// Send the same request again after this many milliseconds.
    RetryAfter(u64),
    /// An answer that retrying cannot change: report it.
    Refused,
    /// Worth retrying, but the attempts are used up.
    GaveUp,
}

/// Whether an outcome is worth another attempt (see the module docs).
pub fn is_retryable(outcome: &AttemptOutcome<'_>) -> bool {
    match *outcome {
        AttemptOutcome::NoAnswer => true,
        AttemptOutcome::Answer { status, code, .. } => match status {
            408 | 500..=599 => true,
            429 => code.is_none_or(|c| c == RATE_LIMITED),
            409 => code == Some(UPLOAD_IN_PROGRESS),
            _ => false,
        },
    }
}

/// The step after attempt number `attempt` (1-based) ended with `outcome`, under `policy`;
/// `random` draws the jitter (any value is fine).
pub fn next_step(
    policy: &RetryPolicy,
    attempt: u32,
    outcome: &AttemptOutcome<'_>,
    random: u64,
) -> NextStep {
    if let AttemptOutcome::Answer { status, .. } = outcome {
        if (200..300).contains(status) {
            return NextStep::Done;
        }
    }
    if !is_retryable(outcome) {
        return NextStep::Refused;
    }
    let Some(backoff) = retry_delay_ms(policy, attempt.saturating_add(1), random) else {
        return NextStep::GaveUp;
    };
    let asked = match outcome {
        AttemptOutcome::Answer {
            retry_after_ms: Some(ms),
            ..
        } => (*ms).min(policy.max_delay_ms),
        _ => 0,
    };
    NextStep::RetryAfter(backoff.max(asked))
}

/// Reads a `Retry-After` value given in seconds (the form the liveform server sends) as
/// milliseconds; an HTTP date or anything else is `None`.
pub fn parse_retry_after_ms(value: &str) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u64>().ok().map(|s| s.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, code: Option<&str>) -> AttemptOutcome<'_> {
        AttemptOutcome::Answer {
            status,
            code,
            retry_after_ms: None,
        }
    }

    #[test]
    fn which_outcomes_retry() {
        assert!(is_retryable(&AttemptOutcome::NoAnswer));
        for s in [408, 500, 502, 503, 504, 599] {
            assert!(is_retryable(&answer(s, Some("x"))), "{s}");
        }
        assert!(is_retryable(&answer(429, Some("rate_limited"))));
        assert!(is_retryable(&answer(429, None)));
        assert!(!is_retryable(&answer(429, Some("too_many_failed_checks"))));
        assert!(is_retryable(&answer(409, Some("upload_in_progress"))));
        for (s, c) in [
            (409, Some("session_decided")),
            (409, None),
            (400, Some("envelope_open_failed")),
            (404, Some("session_unknown")),
            (410, Some("session_expired")),
            (413, Some("upload_too_large")),
            (422, Some("idempotency_key_reused")),
            (200, None),
            (301, None),
        ] {
            assert!(!is_retryable(&answer(s, c)), "{s} {c:?}");
        }
    }

    #[test]
    fn steps_follow_the_schedule() {
        let p = UPLOAD_RETRY;
        assert_eq!(next_step(&p, 1, &answer(200, None), 0), NextStep::Done);
        assert_eq!(next_step(&p, 8, &answer(201, None), 0), NextStep::Done);
        assert_eq!(
            next_step(&p, 1, &answer(400, Some("bad_body")), 0),
            NextStep::Refused
        );
        // After attempt n the delay is the one retry_delay_ms gives attempt n + 1.
        for n in 1..p.max_attempts {
            for r in [0u64, 1, 777, u64::MAX] {
                let want = retry_delay_ms(&p, n + 1, r).unwrap();
                assert_eq!(
                    next_step(&p, n, &AttemptOutcome::NoAnswer, r),
                    NextStep::RetryAfter(want)
                );
            }
        }
        assert_eq!(
            next_step(&p, p.max_attempts, &AttemptOutcome::NoAnswer, 0),
            NextStep::GaveUp
        );
        assert_eq!(
            next_step(&p, u32::MAX, &answer(503, None), 0),
            NextStep::GaveUp
        );
        // Delays stay within [cap/2, cap] of the policy.
        for n in 1..p.max_attempts {
            let NextStep::RetryAfter(d) = next_step(&p, n, &answer(500, None), 123_456) else {
                panic!("retry expected");
            };
            assert!((500..=15_000).contains(&d), "{n}: {d}");
        }
    }

    #[test]
    fn retry_after_raises_the_delay_up_to_the_cap() {
        let p = UPLOAD_RETRY;
        let limited = |ms| AttemptOutcome::Answer {
            status: 429,
            code: Some(RATE_LIMITED),
            retry_after_ms: Some(ms),
        };
        assert_eq!(
            next_step(&p, 1, &limited(7_000), 0),
            NextStep::RetryAfter(7_000)
        );
        // A shorter Retry-After does not shorten the backoff.
        assert_eq!(next_step(&p, 1, &limited(1), 0), NextStep::RetryAfter(500));
        // A huge one is capped, so a server cannot stall the page.
        assert_eq!(
            next_step(&p, 1, &limited(u64::MAX), 0),
            NextStep::RetryAfter(15_000)
        );
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(parse_retry_after_ms("3"), Some(3_000));
        assert_eq!(parse_retry_after_ms(" 120 "), Some(120_000));
        assert_eq!(parse_retry_after_ms("0"), Some(0));
        assert_eq!(parse_retry_after_ms("9999999999"), Some(9_999_999_999_000));
        for bad in [
            "",
            "-1",
            "1.5",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "99999999999",
            "١",
        ] {
            assert_eq!(parse_retry_after_ms(bad), None, "{bad}");
        }
    }
}
