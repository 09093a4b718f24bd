//! Typed helpers for the request chains the suites repeat: an owner's item calls on the data
//! API with a bearer token. Each returns the raw answer, so a suite still asserts what it got.

use crate::Stack;

impl Stack {
    /// The issuer's `/.well-known/{name}` document (discovery, the JWKS), parsed as `T`.
    pub async fn well_known<T: serde::de::DeserializeOwned>(&self, name: &str) -> T {
        self.http
            .get(format!("{}/.well-known/{name}", self.issuer))
            .send()
            .await
            .expect("the issuer answers")
            .json()
            .await
            .expect("a JSON document")
    }

    /// `PUT /v1/items/{id}` as the owner of `token`, with the JSON `body`
    /// (`{"data": ...}`).
    pub async fn put_item(
        &self,
        token: &str,
        id: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .put(self.item_url(id))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("PUT of an item answers")
    }

    /// `GET /v1/items/{id}` as the owner of `token`.
    pub async fn get_item(&self, token: &str, id: &str) -> reqwest::Response {
        self.http
            .get(self.item_url(id))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET of an item answers")
    }

    /// `DELETE /v1/items/{id}` as the owner of `token`.
    pub async fn delete_item(&self, token: &str, id: &str) -> reqwest::Response {
        self.http
            .delete(self.item_url(id))
            .bearer_auth(token)
            .send()
            .await
            .expect("DELETE of an item answers")
    }

    /// `GET /v1/items`: the first page of the owner's items, as JSON.
    pub async fn list_items(&self, token: &str) -> serde_json::Value {
        self.http
            .get(format!("{}/v1/items", self.data_api))
            .bearer_auth(token)
            .send()
            .await
            .expect("list answers")
            .json()
            .await
            .expect("list JSON")
    }

    /// `GET /v1/items/{id}` as the owner of `token`, `count` times at once, spread over
    /// `replicas` in turn: the status of every answer.
    pub async fn concurrent_reads(
        &self,
        replicas: &[String],
        token: &str,
        id: &str,
        count: usize,
    ) -> Vec<u16> {
        let reads = (0..count).map(|i| {
            let request = self
                .http
                .get(format!("{}/v1/items/{id}", replicas[i % replicas.len()]))
                .bearer_auth(token);
            tokio::spawn(async move {
                request
                    .send()
                    .await
                    .expect("GET of an item answers")
                    .status()
                    .as_u16()
            })
        });
        let mut statuses = Vec::with_capacity(count);
        for read in reads.collect::<Vec<_>>() {
            statuses.push(read.await.expect("the read task finishes"));
        }
        statuses
    }
}
