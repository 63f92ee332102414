//! The fake's signing key for interactions it delivers over HTTP, and the answers it got.

use std::collections::VecDeque;
use std::sync::Mutex;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lock;

/// The answers kept, oldest dropped first.
const KEPT: usize = 1000;

/// One interaction the fake delivered to an HTTP endpoint, and the endpoint's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivered {
    /// The interaction's id.
    pub id: String,
    /// Its token (for the webhook routes).
    pub token: String,
    /// Its type (1 PING, 2 command, 3 component, 4 autocomplete, 5 modal submit).
    #[serde(rename = "type")]
    pub kind: u64,
    /// The URL it was posted to.
    pub url: String,
    /// The HTTP status of the answer; 0 when none came (the error says why).
    pub status: u16,
    /// The answer's body: JSON, or a string when it was not JSON.
    pub body: Value,
    /// How long the answer took, in milliseconds.
    pub elapsed_ms: u64,
    /// Why no answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The key and the record.
pub struct Deliveries {
    /// The key the fake signs with, as Discord signs with an application's.
    pub key: SigningKey,
    answers: Mutex<VecDeque<Delivered>>,
}

impl Deliveries {
    /// The key of world seed `seed`: the same seed gives the same key, so that a
    /// configuration can name its public half. Not a secret: the fake is for tests.
    pub fn new(seed: u64) -> Self {
        let half = |i: u8| {
            let mut input = b"switchyard-sim interactions key".to_vec();
            input.extend_from_slice(&seed.to_le_bytes());
            input.push(i);
            xxhash_rust::xxh3::xxh3_128(&input).to_le_bytes()
        };
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(&half(0));
        bytes[16..].copy_from_slice(&half(1));
        Deliveries {
            key: SigningKey::from_bytes(&bytes),
            answers: Mutex::new(VecDeque::new()),
        }
    }

    /// The public key, as 64 hex digits (what the developer portal shows).
    pub fn public_key(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// Records an answer.
    pub fn record(&self, answer: Delivered) {
        let mut answers = lock(&self.answers);
        if answers.len() == KEPT {
            answers.pop_front();
        }
        answers.push_back(answer);
    }

    /// The answers recorded, oldest first.
    pub fn answers(&self) -> Vec<Delivered> {
        lock(&self.answers).iter().cloned().collect()
    }

    /// Forgets the answers.
    pub fn clear(&self) {
        lock(&self.answers).clear();
    }
}
