//! What a [`Load`](super::Load) saw, and the checks on it.

use super::client::version_and_seq;
use super::{Sample, WriteLog};
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything a [`Load`] saw.
pub struct LoadReport {
    /// Every request after the set-up writes, in no particular order.
    pub samples: Vec<Sample>,
    /// What was written to each item.
    pub writes: BTreeMap<String, WriteLog>,
    /// Reads that returned an older version than an already acknowledged write of the same
    /// client: the cache served a value the README promises is gone.
    pub stale_reads: Vec<String>,
    pub(super) tokens: Vec<String>,
}

impl LoadReport {
    /// The requests sent in `phase`.
    pub fn phase(&self, phase: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.phase == phase).collect()
    }

    /// The slowest request sent in `phase`.
    pub fn worst_latency(&self, phase: &str) -> Duration {
        self.phase(phase)
            .iter()
            .map(|s| s.latency)
            .max()
            .unwrap_or_default()
    }

    /// Outcomes of the requests of `phase`, as `label -> count` (labels carry the method).
    pub fn outcomes(&self, phase: &str) -> BTreeMap<String, usize> {
        let mut outcomes = BTreeMap::new();
        for sample in self.phase(phase) {
            *outcomes
                .entry(format!("{} {}", sample.method, sample.outcome.label()))
                .or_insert(0) += 1;
        }
        outcomes
    }

    /// Prints the figures of every phase in `phases`: requests, outcomes by status, worst
    /// latency (run the suite with `--no-capture` to see them).
    pub fn print(&self, title: &str, phases: &[&str]) {
        println!("== {title}: {} requests", self.samples.len());
        for phase in phases {
            let samples = self.phase(phase);
            let outcomes: Vec<String> = self
                .outcomes(phase)
                .into_iter()
                .map(|(label, count)| format!("{label}: {count}"))
                .collect();
            println!(
                "   {phase:<9} {:>5} requests, worst latency {:>8.1?}; {}",
                samples.len(),
                self.worst_latency(phase),
                outcomes.join(", ")
            );
        }
    }

    /// Reads every item through every replica and returns what contradicts the writes: an
    /// item must show its last acknowledged version and data, or a later version carrying one
    /// of the writes that got no answer (those may have committed). Empty when nothing
    /// written was lost.
    pub async fn lost_writes(&self, replicas: &[String]) -> Vec<String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let mut lost = Vec::new();
        for (id, log) in &self.writes {
            let Some((acked, acked_seq)) = log.acked else {
                continue;
            };
            let token = &self.tokens[log.client % self.tokens.len()];
            for (r, replica) in replicas.iter().enumerate() {
                let read = http
                    .get(format!("{replica}/v1/items/{id}"))
                    .bearer_auth(token)
                    .send()
                    .await;
                let body = match read {
                    Ok(response) if response.status() == 200 => {
                        response.json::<serde_json::Value>().await.ok()
                    }
                    Ok(response) => {
                        lost.push(format!("{id} via replica {r}: {}", response.status()));
                        continue;
                    }
                    Err(e) => {
                        lost.push(format!("{id} via replica {r}: {e}"));
                        continue;
                    }
                };
                let (version, seq) = body.as_ref().map_or((None, None), version_and_seq);
                let fine = match (version, seq) {
                    (Some(v), Some(s)) if v == acked => s == acked_seq,
                    (Some(v), Some(s)) if v > acked => log.unacked.contains(&s),
                    _ => false,
                };
                if !fine {
                    lost.push(format!(
                        "{id} via replica {r}: version {version:?} seq {seq:?}, but the write of version {acked} (seq {acked_seq}) was acknowledged (unacknowledged writes: {:?})",
                        log.unacked
                    ));
                }
            }
        }
        lost
    }
}
