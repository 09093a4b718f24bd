//! A bounded background load on the data API replicas, for the fault-injection suites.

mod client;
mod report;

use client::{ClientLog, LoadClient};
pub use report::LoadReport;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a [`Load`] runs: a few clients, each a sequential loop of GETs and PUTs of its own items
/// through the replicas in turn, every request bounded by a client-side timeout.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Concurrent clients.
    pub clients: usize,
    /// Items each client owns and cycles through (written before the load starts, so a read
    /// never meets "not found").
    pub items_per_client: usize,
    /// One request in `put_every` is a PUT, the others are GETs.
    pub put_every: usize,
    /// Pause between two requests of one client (keeps the load bounded).
    pub pause: Duration,
    /// Client-side bound of every request: a slower answer counts as [`Outcome::Timeout`].
    pub timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            clients: 4,
            items_per_client: 4,
            put_every: 3,
            pause: Duration::from_millis(20),
            timeout: Duration::from_secs(2),
        }
    }
}

/// What one request of a [`Load`] got.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// An answer; `problem` says whether it was `application/problem+json`.
    Status {
        /// The status code.
        code: u16,
        /// `Content-Type: application/problem+json`.
        problem: bool,
    },
    /// No complete answer within the client-side timeout.
    Timeout,
    /// A transport failure (refused, reset, ...), by kind.
    Error(&'static str),
}

impl Outcome {
    /// A 2xx answer.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Status { code, .. } if (200..300).contains(code))
    }

    /// A 503 RFC 9457 problem: the documented answer while the item store is down.
    pub fn is_unavailable_problem(&self) -> bool {
        matches!(
            self,
            Self::Status {
                code: 503,
                problem: true
            }
        )
    }

    /// A short label for the printed figures (`200`, `503 problem`, `timeout`, ...).
    pub fn label(&self) -> String {
        match self {
            Self::Status { code, problem } if *problem => format!("{code} problem"),
            Self::Status { code, .. } => code.to_string(),
            Self::Timeout => "timeout".to_string(),
            Self::Error(kind) => format!("error ({kind})"),
        }
    }
}

/// One request of a [`Load`].
#[derive(Clone, Debug)]
pub struct Sample {
    /// The phase the test had set when the request was sent.
    pub phase: &'static str,
    /// The phase in force when the answer (or the timeout) came: a request sent just before a
    /// fault may be answered during it.
    pub answered_in: &'static str,
    /// `GET` or `PUT`.
    pub method: &'static str,
    /// Index of the replica it went to.
    pub replica: usize,
    /// What it got.
    pub outcome: Outcome,
    /// How long it took (at most about the client timeout).
    pub latency: Duration,
}

/// What a [`Load`] wrote to one item: enough to say, after the faults, whether every
/// acknowledged write is still there.
#[derive(Clone, Debug, Default)]
pub struct WriteLog {
    /// The client that owns it (its token is the owner).
    pub client: usize,
    /// The last write answered 2xx: (version, sequence number written in its data).
    pub acked: Option<(u64, u64)>,
    /// Sequence numbers of writes that got no 2xx: each may or may not have committed.
    pub unacked: Vec<u64>,
}

/// A bounded background load on the data API replicas; [`Load::stop`] ends it and returns what
/// every request got. The test names phases (`before`, `fault`, ...) as it goes, and each
/// request is recorded under the phase in force when it was sent.
pub struct Load {
    phase: Arc<Mutex<&'static str>>,
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<ClientLog>>,
    tokens: Vec<String>,
}

impl Load {
    /// Starts the clients: client `i` uses `tokens[i % tokens.len()]` and owns the items
    /// `load-{i}-{k}`. Each client first writes its items (a failure there panics), then loops
    /// in phase `before` until [`Load::stop`].
    pub fn start(replicas: &[String], tokens: &[String], options: LoadOptions) -> Self {
        assert!(!replicas.is_empty() && !tokens.is_empty());
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .expect("client");
        let phase = Arc::new(Mutex::new("before"));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..options.clients)
            .map(|index| {
                let client = LoadClient {
                    index,
                    http: http.clone(),
                    replicas: replicas.to_vec(),
                    token: tokens[index % tokens.len()].clone(),
                    options: options.clone(),
                };
                tokio::spawn(client.run(phase.clone(), stop.clone()))
            })
            .collect();
        Self {
            phase,
            stop,
            clients,
            tokens: tokens.to_vec(),
        }
    }

    /// Names the phase the next requests belong to.
    pub fn set_phase(&self, phase: &'static str) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase;
    }

    /// Stops every client (each finishes its request in flight) and collects what they saw.
    pub async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut report = LoadReport {
            samples: Vec::new(),
            writes: BTreeMap::new(),
            stale_reads: Vec::new(),
            tokens: self.tokens,
        };
        for client in self.clients {
            let log = client.await.expect("a load client panicked");
            report.samples.extend(log.samples);
            report.writes.extend(log.writes);
            report.stale_reads.extend(log.stale_reads);
        }
        report
    }
}
