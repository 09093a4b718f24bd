//! One client of a [`Load`](super::Load): a sequential loop of GETs and PUTs of its own items.

use super::{LoadOptions, Outcome, Sample, WriteLog};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(super) struct ClientLog {
    pub(super) samples: Vec<Sample>,
    pub(super) writes: BTreeMap<String, WriteLog>,
    pub(super) stale_reads: Vec<String>,
}

/// The item ids of one load client.
fn load_ids(client: usize, count: usize) -> Vec<String> {
    (0..count).map(|k| format!("load-{client}-{k}")).collect()
}

/// The version and the `seq` written in the data of an item answer.
pub(super) fn version_and_seq(body: &serde_json::Value) -> (Option<u64>, Option<u64>) {
    (body["version"].as_u64(), body["data"]["seq"].as_u64())
}

pub(super) struct LoadClient {
    pub(super) index: usize,
    pub(super) http: reqwest::Client,
    pub(super) replicas: Vec<String>,
    pub(super) token: String,
    pub(super) options: LoadOptions,
}

impl LoadClient {
    /// Sends one request; returns its sample and, for a 200, the body.
    async fn send(
        &self,
        phase: &Mutex<&'static str>,
        replica: usize,
        id: &str,
        write: Option<u64>,
    ) -> (Sample, Option<serde_json::Value>) {
        let current = || *phase.lock().unwrap_or_else(|e| e.into_inner());
        let sent_in = current();
        let url = format!("{}/v1/items/{id}", self.replicas[replica]);
        let request = match write {
            Some(seq) => self.http.put(url).json(&serde_json::json!({
                "data": {"client": self.index, "seq": seq}
            })),
            None => self.http.get(url),
        }
        .bearer_auth(&self.token);
        let started = Instant::now();
        let answer = async {
            let response = request.send().await?;
            let code = response.status().as_u16();
            let problem = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v == "application/problem+json");
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((code, problem, body))
        };
        // The client's own timeout bounds the request; this one only guards the guard.
        let bound = self.options.timeout + Duration::from_millis(500);
        let (outcome, body) = match tokio::time::timeout(bound, answer).await {
            Err(_) => (Outcome::Timeout, None),
            Ok(Err(e)) if e.is_timeout() => (Outcome::Timeout, None),
            Ok(Err(e)) => {
                let kind = if e.is_connect() {
                    "connect"
                } else if e.is_body() || e.is_decode() {
                    "body"
                } else {
                    "request"
                };
                (Outcome::Error(kind), None)
            }
            Ok(Ok((code, problem, body))) => {
                let json = (code == 200)
                    .then(|| serde_json::from_slice(&body).ok())
                    .flatten();
                (Outcome::Status { code, problem }, json)
            }
        };
        let sample = Sample {
            phase: sent_in,
            answered_in: current(),
            method: if write.is_some() { "PUT" } else { "GET" },
            replica,
            outcome,
            latency: started.elapsed(),
        };
        (sample, body)
    }

    pub(super) async fn run(
        self,
        phase: Arc<Mutex<&'static str>>,
        stop: Arc<AtomicBool>,
    ) -> ClientLog {
        let ids = load_ids(self.index, self.options.items_per_client);
        let mut log = ClientLog {
            samples: Vec::new(),
            writes: BTreeMap::new(),
            stale_reads: Vec::new(),
        };
        let mut seq = 0u64;
        // Every item is written once before the load starts; these must succeed.
        for (k, id) in ids.iter().enumerate() {
            seq += 1;
            let replica = (self.index + k) % self.replicas.len();
            let (sample, body) = self
                .send(&Mutex::new("setup"), replica, id, Some(seq))
                .await;
            let version = body.as_ref().and_then(|b| version_and_seq(b).0);
            let version = version.unwrap_or_else(|| {
                panic!("setup write of {id} failed: {}", sample.outcome.label())
            });
            log.writes.insert(
                id.clone(),
                WriteLog {
                    client: self.index,
                    acked: Some((version, seq)),
                    unacked: Vec::new(),
                },
            );
        }
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let n = ids.len();
            let id = &ids[i % n];
            // Each round over the items moves to the next replica, so every item is read and
            // written through every replica.
            let replica = (i / n + self.index) % self.replicas.len();
            let write = (i % self.options.put_every == 0).then(|| {
                seq += 1;
                seq
            });
            let (sample, body) = self.send(&phase, replica, id, write).await;
            let current = sample.phase;
            let entry = log.writes.get_mut(id).expect("every item was written");
            match (write, body.as_ref().map(version_and_seq)) {
                (Some(seq), Some((Some(version), _))) if sample.outcome.is_success() => {
                    entry.acked = Some((version, seq));
                }
                (Some(seq), _) => entry.unacked.push(seq),
                (None, Some((Some(version), read_seq))) => {
                    if let Some((acked, acked_seq)) = entry.acked {
                        if version < acked {
                            log.stale_reads.push(format!(
                                "{id} via replica {replica} in phase {current}: read version {version} (seq {read_seq:?}) after the write of version {acked} (seq {acked_seq}) was acknowledged"
                            ));
                        }
                    }
                }
                (None, _) => {}
            }
            log.samples.push(sample);
            i += 1;
            tokio::time::sleep(self.options.pause).await;
        }
        log
    }
}
