use super::*;
use crate::LocalRateLimiter;
use portcullis_domain::clock::ManualClock;
use portcullis_domain::quota::QuotaGrant;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

fn policy(spec: &str) -> RateLimitPolicy {
    RateLimitPolicy::parse(spec).unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ))
}

/// The in-process limiter, counting the takes made of it and the units each granted.
struct Counting {
    inner: LocalRateLimiter,
    takes: AtomicUsize,
    grants: Mutex<Vec<u64>>,
}

impl Counting {
    fn new(clock: Arc<ManualClock>) -> Arc<Self> {
        Arc::new(Self {
            inner: LocalRateLimiter::with_clock(clock),
            takes: AtomicUsize::new(0),
            grants: Mutex::default(),
        })
    }
}

#[async_trait]
impl RateLimiter for Counting {
    async fn check(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
    ) -> Result<RateLimitDecision, RateLimitError> {
        self.inner.check(key, policy, cost).await
    }

    async fn reset(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
    ) -> Result<(), RateLimitError> {
        self.inner.reset(key, policy).await
    }
}

#[async_trait]
impl QuotaSource for Counting {
    async fn take(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
        slice: u64,
        refund: Option<&QuotaRefund>,
    ) -> Result<QuotaGrant, RateLimitError> {
        self.takes.fetch_add(1, Ordering::SeqCst);
        let grant = self.inner.take(key, policy, cost, slice, refund).await?;
        self.grants.lock().unwrap().push(grant.granted);
        Ok(grant)
    }
}

#[tokio::test]
async fn leasing_passes_the_rate_limiter_contract_at_small_and_large_slices() {
    for fraction in [DEFAULT_LEASE_FRACTION, 0.5] {
        let clock = clock();
        let source = Arc::new(LocalRateLimiter::with_clock(clock.clone()));
        let leasing = LeasingLimiter::with_clock(source, fraction, clock);
        portcullis_domain::testkit::rate_limiter::run(Arc::new(leasing)).await;
    }
}

/// Drives `replicas` limiters (leasing, or the exact one) on one shared `100/s,3000/min` with a
/// demand that swings from far above it to far below it for `seconds` of manual time. Returns how many were admitted, and the
/// worst sliding estimate of *admitted* requests seen at an admission, as a share of the limit:
/// `previous slot × (P − elapsed)/P + current slot`, per window, the same formula the limiter
/// charges by. The exact limiter keeps it at most 1 by construction; leases keep it there only
/// if every unit is spent in the slot it was charged in.
async fn hammer(replicas: usize, exact: bool, seconds: u64, seed: u64) -> (u64, f64) {
    let clock = clock();
    let source = Arc::new(LocalRateLimiter::with_clock(clock.clone()));
    let limiters: Vec<Arc<dyn RateLimiter>> = (0..replicas)
        .map(|_| {
            if exact {
                source.clone() as Arc<dyn RateLimiter>
            } else {
                Arc::new(LeasingLimiter::with_clock(
                    source.clone(),
                    0.05,
                    clock.clone(),
                )) as _
            }
        })
        .collect();
    let p = policy("100/s,3000/min");
    let key = RateLimitKey::new("sub", "hammered");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut admitted_in: [HashMap<u64, u64>; 2] = Default::default();
    let (mut admitted, mut worst) = (0, 0.0f64);
    let end = clock.now() + Duration::from_secs(seconds);
    let mut gap = 4000;
    while clock.now() < end {
        // Busy spells and quiet ones, so slices are sometimes left unspent across slots.
        if rng.random_range(0..200) == 0 {
            gap = [400, 4000, 40_000, 200_000][rng.random_range(0..4)];
        }
        clock.advance(Duration::from_micros(rng.random_range(0..gap)));
        let limiter = &limiters[rng.random_range(0..replicas)];
        if !limiter.check(&key, &p, 1).await.unwrap().allowed {
            continue;
        }
        admitted += 1;
        let ms = portcullis_domain::clock::unix_millis(clock.now());
        for (window, counts) in p.windows().iter().zip(&mut admitted_in) {
            let period = window.period.as_millis() as u64;
            let slot = ms / period;
            *counts.entry(slot).or_insert(0) += 1;
            let previous = counts.get(&(slot - 1)).copied().unwrap_or(0) as f64;
            let estimate =
                previous * (period - ms % period) as f64 / period as f64 + counts[&slot] as f64;
            worst = worst.max(estimate / window.limit as f64);
        }
    }
    (admitted, worst)
}

#[tokio::test]
async fn replicas_sharing_a_limit_never_admit_more_than_it_allows() {
    for (replicas, seed) in [(2, 1), (3, 2), (8, 3)] {
        let (exact, exact_worst) = hammer(replicas, true, 200, seed).await;
        assert!(
            exact_worst <= 1.0 + 1e-9,
            "the oracle holds for the exact limiter: {exact_worst}"
        );
        let (leased, worst) = hammer(replicas, false, 200, seed).await;
        println!("{replicas} replicas: {leased} admitted with leases, {exact} exact");
        assert!(
            worst <= 1.0 + 1e-9,
            "{replicas} replicas admitted {worst:.4} × the limit in a window"
        );
        assert!(
            leased * 10 >= exact * 9,
            "{replicas} replicas: leases stranded too much: {leased} admitted, exact {exact}"
        );
    }
}

#[tokio::test]
async fn slices_shrink_to_single_units_near_the_limit() {
    let clock = clock();
    let source = Counting::new(clock.clone());
    let leasing = LeasingLimiter::with_clock(source.clone(), 0.5, clock);
    let (p, key) = (policy("100/min"), RateLimitKey::new("sub", "shrinks"));
    let mut admitted = 0;
    while leasing.check(&key, &p, 1).await.unwrap().allowed {
        admitted += 1;
    }
    assert_eq!(admitted, 100, "one replica spends the whole limit");
    let grants = source.grants.lock().unwrap().clone();
    assert_eq!(
        grants,
        [50, 25, 13, 6, 3, 2, 1, 0],
        "half of what is left each time"
    );
}

#[tokio::test]
async fn unspent_units_go_back_with_the_next_take() {
    let clock = clock();
    let source = Arc::new(LocalRateLimiter::with_clock(clock.clone()));
    let a = LeasingLimiter::with_clock(source.clone(), 0.5, clock.clone());
    let (p, key) = (policy("10/s,20/min"), RateLimitKey::new("sub", "refund"));
    // Align to the start of a second, then take a slice of 5 and spend 1 of it.
    let ms = portcullis_domain::clock::unix_millis(clock.now());
    clock.advance(Duration::from_millis(1000 - ms % 1000));
    assert!(a.check(&key, &p, 1).await.unwrap().allowed);
    // The second ends with 4 units unspent; the next take hands them back.
    clock.advance(Duration::from_secs(1));
    assert!(a.check(&key, &p, 1).await.unwrap().allowed);
    let minute = source.check(&key, &policy("20/min"), 0).await.unwrap();
    assert_eq!(
        minute.windows[0].remaining,
        20 - 1 - 5,
        "the minute window holds the one spent unit and the new slice, not the refunded four"
    );
}

#[tokio::test]
async fn callers_whose_slice_ran_out_together_cause_one_take() {
    let clock = clock();
    let source = Counting::new(clock.clone());
    let leasing = Arc::new(LeasingLimiter::with_clock(source.clone(), 0.5, clock));
    let (p, key) = (policy("1000/min"), RateLimitKey::new("sub", "herd"));
    let checks = (0..64).map(|_| {
        let (leasing, p, key) = (leasing.clone(), p.clone(), key.clone());
        async move { leasing.check(&key, &p, 1).await.unwrap().allowed }
    });
    let allowed = futures::future::join_all(checks).await;
    assert!(allowed.iter().all(|a| *a));
    assert_eq!(
        source.takes.load(Ordering::SeqCst),
        1,
        "one slice served all 64"
    );
}

#[tokio::test]
async fn a_refusal_stands_until_its_retry_after_without_asking_again() {
    let clock = clock();
    let source = Counting::new(clock.clone());
    let leasing = LeasingLimiter::with_clock(source.clone(), 0.05, clock.clone());
    let (p, key) = (policy("2/min"), RateLimitKey::new("sub", "refused"));
    assert!(leasing.check(&key, &p, 1).await.unwrap().allowed);
    assert!(leasing.check(&key, &p, 1).await.unwrap().allowed);
    let refused = leasing.check(&key, &p, 1).await.unwrap();
    assert!(!refused.allowed);
    let takes = source.takes.load(Ordering::SeqCst);
    let wait = refused.retry_after.unwrap();
    for _ in 0..10 {
        let again = leasing.check(&key, &p, 1).await.unwrap();
        assert!(!again.allowed && again.retry_after.unwrap() <= wait);
    }
    assert_eq!(
        source.takes.load(Ordering::SeqCst),
        takes,
        "no take while the refusal stands"
    );
    clock.advance(wait);
    assert!(
        leasing.check(&key, &p, 1).await.unwrap().allowed,
        "and it lifts on time"
    );
}
