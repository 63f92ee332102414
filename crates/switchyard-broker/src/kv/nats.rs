//! [`NatsKv`]: a NATS KV bucket named after the durable name. nats-server 2.9 has no per-key
//! TTL, so each value carries its deadline (8 bytes, milliseconds since the epoch, 0 for
//! never) before the data, and an entry past its deadline counts as absent.
//! Compare-and-set uses the bucket's own revisions (`create` / `update`).

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use async_trait::async_trait;
use bytes::{BufMut as _, Bytes, BytesMut};

use super::{KvEntry, KvError, KvStore, check_key, deadline, expired};
use crate::{BrokerError, BrokerOptions, BrokerUrl};

/// The NATS KV store.
pub struct NatsKv {
    store: kv::Store,
    url: String,
}

impl std::fmt::Debug for NatsKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsKv")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl NatsKv {
    /// Connects and opens (or creates) the bucket.
    pub async fn connect(url: &BrokerUrl, options: &BrokerOptions) -> Result<Self, KvError> {
        let client = crate::nats::connect::connect(url, options).await?;
        crate::nats::version::warn_if_old(&client, &url.redacted());
        let js = jetstream::new(client);
        let bucket = options.durable.name.clone();
        // The bucket's stream is created by hand with the KV conventions: async-nats'
        // create_key_value cannot read nats-server 2.9's answer.
        let fail = |e: &dyn std::fmt::Display| {
            BrokerError::backend(
                "nats",
                format!(
                    "cannot open the KV bucket {bucket} at {}: {e} (is JetStream enabled, nats-server -js?)",
                    url.redacted()
                ),
            )
        };
        crate::nats::jetstream::create_stream(
            &js,
            jetstream::stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                allow_rollup: true,
                deny_delete: true,
                // Reads go to the stream's leader, so a read after a write sees it. A direct
                // get may be answered by a replica that has not applied the write yet: on a
                // loaded cluster a session or lease just written read back as missing.
                allow_direct: false,
                discard: jetstream::stream::DiscardPolicy::New,
                storage: jetstream::stream::StorageType::File,
                num_replicas: options.durable.replicas as usize,
                ..Default::default()
            },
            options.retry,
        )
        .await
        .map_err(|e| fail(&e))?;
        let store = js.get_key_value(&bucket).await.map_err(|e| fail(&e))?;
        Ok(NatsKv {
            store,
            url: url.redacted(),
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> KvError {
        KvError::Broker(BrokerError::Disconnected {
            backend: "nats",
            detail: format!("{}: {e}", self.url),
        })
    }

    /// The stored entry, live or not: (revision, deadline, value).
    async fn raw(&self, key: &str) -> Result<Option<(u64, u64, Bytes)>, KvError> {
        let entry = self.store.entry(key).await.map_err(|e| self.error(e))?;
        Ok(entry.and_then(|e| {
            if e.operation != kv::Operation::Put || e.value.len() < 8 {
                return None;
            }
            let mut deadline = [0u8; 8];
            deadline.copy_from_slice(&e.value[..8]);
            Some((e.revision, u64::from_be_bytes(deadline), e.value.slice(8..)))
        }))
    }
}

fn encode(value: &Bytes, ttl: Option<Duration>) -> Bytes {
    let mut out = BytesMut::with_capacity(value.len() + 8);
    out.put_u64(deadline(ttl));
    out.put_slice(value);
    out.freeze()
}

#[async_trait]
impl KvStore for NatsKv {
    fn backend(&self) -> &'static str {
        "nats"
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
        check_key(key)?;
        Ok(self
            .raw(key)
            .await?
            .filter(|(_, d, _)| !expired(*d))
            .map(|(revision, _, value)| KvEntry { value, revision }))
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<u64, KvError> {
        check_key(key)?;
        self.store
            .put(key, encode(&value, ttl))
            .await
            .map_err(|e| self.error(e))
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<u64>,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        check_key(key)?;
        let stored = self.raw(key).await?;
        let live = stored
            .as_ref()
            .filter(|(_, d, _)| !expired(*d))
            .map(|(r, _, _)| *r);
        if live != expected {
            return Err(KvError::conflict(key, expected, live));
        }
        let data = encode(&value, ttl);
        let result = match stored {
            // Absent (or deleted): create, which fails if someone else just did.
            None => self
                .store
                .create(key, data)
                .await
                .map_err(|e| e.to_string()),
            // Present (live as expected, or expired): replace exactly that revision.
            Some((revision, _, _)) => self
                .store
                .update(key, data, revision)
                .await
                .map_err(|e| e.to_string()),
        };
        result.map_err(|_| KvError::conflict(key, expected, None))
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        check_key(key)?;
        self.store.delete(key).await.map_err(|e| self.error(e))
    }
}
