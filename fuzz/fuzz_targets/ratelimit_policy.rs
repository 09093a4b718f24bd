//! The `DATA_API_RATE_LIMIT` syntax: never panics; an accepted policy is within bounds and its
//! printed form parses back to the same policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_domain::ratelimit::RateLimitPolicy;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = std::str::from_utf8(data) else { return };
    if let Ok(policy) = RateLimitPolicy::parse(spec) {
        assert!(!policy.windows().is_empty() && policy.windows().len() <= 8);
        for w in policy.windows() {
            assert!(w.limit >= 1 && w.period.as_secs() >= 1 && w.period.as_secs() <= 86_400);
        }
        let reparsed = RateLimitPolicy::parse(&policy.to_string()).expect("printed form parses");
        assert_eq!(reparsed, policy);
    }
});
