//! The sliding-window arithmetic and the operator syntax of policies.
use super::*;

fn policy(spec: &str) -> RateLimitPolicy {
    RateLimitPolicy::parse(spec).unwrap()
}

#[test]
fn parses_operator_syntax() {
    let p = policy("100/s, 3000/min,20/10s,5/h,1/day");
    let periods: Vec<u64> = p.windows().iter().map(|w| w.period.as_secs()).collect();
    assert_eq!(periods, vec![1, 60, 10, 3600, 86_400]);
    assert_eq!(p.windows()[0].limit, 100);
    assert_eq!(p.to_string(), "100/1s,3000/60s,20/10s,5/3600s,1/86400s");
}

#[test]
fn rejects_malformed_policies() {
    for bad in [
        "",
        "100",
        "0/s",
        "x/s",
        "100/fortnight",
        "100/0s",
        "100/2d",
        "-1/s",
        "1/s,,",
    ] {
        assert!(
            RateLimitPolicy::parse(bad).is_err(),
            "{bad:?} should be rejected"
        );
    }
    assert!(RateLimitPolicy::parse(&["1/s"; 9].join(",")).is_err());
}

#[test]
fn previous_slot_weighs_in_proportionally() {
    let p = policy("10/10s");
    // Halfway through the slot, 10 from the previous slot count as 5.
    let d = decide(
        &p,
        &[SlotCounts {
            previous: 10,
            current: 4,
        }],
        &[5_000],
        1,
    );
    assert!(d.allowed);
    assert_eq!(d.windows[0].remaining, 0);
    let d = decide(
        &p,
        &[SlotCounts {
            previous: 10,
            current: 5,
        }],
        &[5_000],
        1,
    );
    assert!(!d.allowed);
    // 10 × (1 − w) + 5 + 1 ≤ 10 needs w ≤ 0.4: 6 s into the slot, 1 s from now.
    assert_eq!(d.retry_after, Some(Duration::from_secs(1)));
}

#[test]
fn a_rejected_request_reports_the_longest_wait_of_all_windows() {
    let p = policy("2/s,3/min");
    let d = decide(
        &p,
        &[
            SlotCounts {
                previous: 0,
                current: 0,
            },
            SlotCounts {
                previous: 0,
                current: 3,
            },
        ],
        &[0, 30_000],
        1,
    );
    assert!(!d.allowed);
    // The minute window is full until its next slot, then 3 × (1 − t/60) + 1 ≤ 3 at t = 20 s.
    assert_eq!(d.retry_after, Some(Duration::from_secs(50)));
    assert_eq!(d.tightest().unwrap().0, 1);
}

/// The review's case: a 429 said `Retry-After: 1` beside `t=6`. Whatever the counters, the
/// advertised wait is true (waiting it, the request fits) and tight (a second less does not).
#[test]
fn the_advertised_wait_is_true_and_tight() {
    let p = policy("10/10s,25/min");
    let mut checked = 0;
    for previous in [0, 5, 10, 20] {
        for current in 0..=25 {
            for elapsed in (0..60_000).step_by(1_700) {
                let counts = [
                    SlotCounts {
                        previous: previous.min(10),
                        current: current.min(10),
                    },
                    SlotCounts { previous, current },
                ];
                let at = |ms: u64| [ms % 10_000, ms % 60_000];
                let d = decide(&p, &counts, &at(elapsed), 1);
                let Some(secs) = d.retry_after_secs() else {
                    continue;
                };
                checked += 1;
                assert!(d.limited_by.is_some());
                // Waiting moves time on: counters roll into `previous` as slots end.
                let after = |wait_ms: u64| {
                    let now = elapsed + wait_ms;
                    let roll =
                        |c: SlotCounts, period: u64| match (now / period) - (elapsed / period) {
                            0 => c,
                            1 => SlotCounts {
                                previous: c.current,
                                current: 0,
                            },
                            _ => SlotCounts::default(),
                        };
                    decide(
                        &p,
                        &[roll(counts[0], 10_000), roll(counts[1], 60_000)],
                        &at(now),
                        1,
                    )
                };
                assert!(
                    after(secs * 1000).allowed,
                    "true: {counts:?} at {elapsed} ms, wait {secs}s"
                );
                if secs > 1 {
                    assert!(
                        !after((secs - 1) * 1000).allowed,
                        "tight: {counts:?} at {elapsed} ms, wait {secs}s"
                    );
                }
            }
        }
    }
    assert!(checked > 500, "the grid exercises rejections ({checked})");
}

#[test]
fn cost_larger_than_the_limit_never_fits() {
    let d = decide(&policy("5/min"), &[SlotCounts::default()], &[0], 6);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Some(Duration::from_secs(60)));
}
