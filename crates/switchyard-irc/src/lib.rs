//! IRC as a platform beside Discord, through the same broker and the same outbound contract.
//!
//! Each configured network ([`IrcConfig`], `[[irc]]` in `switchyard run`) gets one connection
//! that registers (with SASL PLAIN if asked), joins its channels, answers PINGs, and
//! reconnects and rejoins on its own. What people say becomes a `MESSAGE_CREATE` envelope on
//! `inbound.irc.{network}.{channel}.{nick}`, shaped like a Discord message; what bots publish
//! on `outbound.irc.{network}.{channel}.{nick}` becomes PRIVMSGs, sent within the server's
//! flood limits. [`names`] maps IRC names to topic segments and back. The details, and every
//! metric, are in `docs/irc.md`.
//!
//! This crate depends on the core and the broker only; the Discord gateway knows nothing of it.

mod config;
mod conn;
mod event;
mod flood;
pub mod names;
mod network;
mod outbound;
mod outbox;
mod session;

use std::sync::{Arc, Mutex};

use switchyard_broker::{Broker, BrokerError, Pattern};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{IrcConfig, SaslConfig, Secret};
pub use network::NetworkStatus;

use crate::network::{Network, SharedStatus};
use crate::outbox::Outbox;

/// Why the IRC side could not start.
#[derive(Debug, thiserror::Error)]
pub enum IrcError {
    /// A network's settings are wrong; the message names the key.
    #[error("irc: {0}")]
    Config(String),
    /// The outbound topics could not be subscribed to.
    #[error("irc network {network}: cannot subscribe to its outbound topics: {source}")]
    Subscribe {
        /// The network.
        network: String,
        /// The broker's error.
        #[source]
        source: BrokerError,
    },
}

/// The running IRC connections.
pub struct RunningIrc {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    status: Vec<SharedStatus>,
}

/// Checks every network's settings, and that no two share a name.
pub fn validate(networks: &[IrcConfig]) -> Result<(), IrcError> {
    let mut seen = std::collections::HashSet::new();
    for n in networks {
        n.validate().map_err(IrcError::Config)?;
        if !seen.insert(n.network.as_str()) {
            return Err(IrcError::Config(format!(
                "two [[irc]] entries are named {:?}; each network needs its own name",
                n.network
            )));
        }
    }
    Ok(())
}

/// Starts one connection per network, publishing on and reading from `broker`. Returns once
/// every network reads its outbound topics; the connections come up in the background.
pub async fn start(
    networks: Vec<IrcConfig>,
    broker: Arc<dyn Broker>,
) -> Result<RunningIrc, IrcError> {
    validate(&networks)?;
    let (stop, stop_rx) = watch::channel(false);
    let mut running = RunningIrc {
        stop,
        tasks: Vec::new(),
        status: Vec::new(),
    };
    for config in networks {
        let sasl = match &config.sasl {
            Some(s) => Some(s.password().map_err(IrcError::Config)?),
            None => None,
        };
        let tls = match config.tls {
            true => Some(conn::tls_config(config.tls_ca.as_deref()).map_err(|e| {
                let ca = config.tls_ca.as_ref().map(|p| p.display().to_string());
                IrcError::Config(format!(
                    "tls_ca {} of network {}: {e}",
                    ca.unwrap_or_default(),
                    config.network
                ))
            })?),
            false => None,
        };
        let outbox = Outbox::new(
            &config.network,
            broker.clone(),
            config.send_queue,
            config.send_interval_ms,
        );
        let pattern = Pattern::new(&outbox.pattern())
            .map_err(|e| IrcError::Config(format!("network {}: {e}", config.network)))?;
        let outbound = broker
            .subscribe(&pattern)
            .await
            .map_err(|source| IrcError::Subscribe {
                network: config.network.clone(),
                source,
            })?;
        let status: SharedStatus = Arc::new(Mutex::new(NetworkStatus {
            network: config.network.clone(),
            state: "connecting",
            nick: config.nick.clone(),
            ..NetworkStatus::default()
        }));
        running.status.push(status.clone());
        let network = Network {
            config,
            sasl,
            tls,
            broker: broker.clone(),
            outbound,
            outbox,
            status,
            stop: stop_rx.clone(),
        };
        running.tasks.push(tokio::spawn(network.run()));
    }
    Ok(running)
}

impl RunningIrc {
    /// Each network's status, for `/status`.
    pub fn status(&self) -> Vec<NetworkStatus> {
        self.status
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.clone()))
            .collect()
    }

    /// A function returning [`RunningIrc::status`], for the admin listener.
    pub fn status_fn(&self) -> impl Fn() -> Vec<NetworkStatus> + Send + Sync + 'static {
        let status = self.status.clone();
        move || {
            status
                .iter()
                .filter_map(|s| s.lock().ok().map(|s| s.clone()))
                .collect()
        }
    }

    /// Says QUIT on every connection and waits for them to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
