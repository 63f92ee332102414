//! One SUB connection on the PUB endpoint: its subscriptions come in, its messages go out from
//! its bounded queue; PING heartbeats get their PONG. Reading and writing run side by side, so that a subscriber that stops
//! reading fills only its own queue.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};

use super::side::{ZmqClientId, ZmqOut};
use super::{Shared, count_refused};
use crate::zmtp::{self, SYNC_PREFIX, SocketType, ZmtpError};

/// The longest subscription prefix kept (a topic is at most 1024 bytes).
const MAX_PREFIX: u64 = 2048;

/// Subscriptions one connection may hold; one more closes it.
pub(super) const MAX_SUBSCRIPTIONS: usize = 10_000;

pub(super) async fn run(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    if let Err(error) = zmtp::handshake(&mut stream, SocketType::Pub).await {
        refuse(peer, &error);
        return;
    }
    tracing::debug!(%peer, "ZeroMQ SUB connected");
    let id = shared.next_client();
    let (tx, rx) = mpsc::channel(shared.config.client_buffer);
    shared.hub.write().zmq.connect(id, tx.clone());
    let (read, write) = stream.into_split();
    let (pong_tx, pong_rx) = mpsc::channel(4);
    let outcome = tokio::select! {
        _ = async { let _ = stop.wait_for(|stopped| *stopped).await; } => Ok(()),
        r = subscriptions(&shared, id, BufReader::new(read), &tx, &pong_tx) => r,
        r = deliveries(BufWriter::new(write), rx, pong_rx) => r.map_err(ZmtpError::from),
    };
    shared.hub.write().zmq.disconnect(id);
    match outcome {
        Err(ZmtpError::Io(_)) | Ok(()) => tracing::debug!(%peer, "ZeroMQ SUB disconnected"),
        Err(error) => refuse(peer, &error),
    }
}

fn refuse(peer: SocketAddr, error: &ZmtpError) {
    if matches!(error, ZmtpError::Io(_)) {
        tracing::debug!(%peer, %error, "ZeroMQ SUB connection ended");
        return;
    }
    count_refused(error.kind());
    tracing::warn!(%peer, %error, "ZeroMQ PUB endpoint: connection refused and closed");
}

/// Reads subscriptions until the peer goes; anything but subscriptions and heartbeats is
/// ignored (a SUB socket sends nothing else).
async fn subscriptions(
    shared: &Shared,
    id: ZmqClientId,
    mut read: BufReader<OwnedReadHalf>,
    tx: &mpsc::Sender<ZmqOut>,
    pongs: &mpsc::Sender<Vec<u8>>,
) -> Result<(), ZmtpError> {
    // Inside a multi-frame message (a SUB socket sends none): skipped to its end.
    let mut skipping = false;
    loop {
        let header = zmtp::read_header(&mut read).await?;
        if header.command {
            if header.len > zmtp::max_command() {
                return Err(ZmtpError::Frame("command too long"));
            }
            let body = zmtp::read_body(&mut read, header.len).await?;
            let (name, rest) = zmtp::command_name(&body)?;
            // ZMTP 3.1 peers may subscribe with commands.
            match name {
                b"SUBSCRIBE" => subscribe(shared, id, tx, true, rest).await?,
                b"CANCEL" => subscribe(shared, id, tx, false, rest).await?,
                // The writer answers PING; a full pong queue means PONGs are already on
                // their way, which is answer enough.
                _ => {
                    if let Some(pong) = zmtp::pong_for(&body) {
                        let _ = pongs.try_send(pong);
                    }
                }
            }
            continue;
        }
        if skipping || header.more || header.len > MAX_PREFIX {
            skipping = header.more;
            zmtp::skip_body(&mut read, header.len).await?;
            continue;
        }
        let body = zmtp::read_body(&mut read, header.len).await?;
        match body.first() {
            Some(1) => subscribe(shared, id, tx, true, &body[1..]).await?,
            Some(0) => subscribe(shared, id, tx, false, &body[1..]).await?,
            _ => {}
        }
    }
}

async fn subscribe(
    shared: &Shared,
    id: ZmqClientId,
    tx: &mpsc::Sender<ZmqOut>,
    on: bool,
    prefix: &[u8],
) -> Result<(), ZmtpError> {
    if prefix.starts_with(SYNC_PREFIX) {
        if on {
            // Queued behind what was delivered before; waits (rather than drops) if full.
            let _ = tx
                .send((Bytes::copy_from_slice(prefix), Bytes::new()))
                .await;
        }
        return Ok(());
    }
    let mut state = shared.hub.write();
    if !on {
        state.zmq.cancel(id, prefix);
    } else if !state
        .zmq
        .subscribe(id, Bytes::copy_from_slice(prefix), MAX_SUBSCRIPTIONS)
    {
        return Err(ZmtpError::Limit(
            "more than 10000 subscriptions on one connection",
        ));
    }
    Ok(())
}

/// Writes queued messages and PONGs, flushing whenever the queue runs empty. A PONG goes out
/// between two messages, never inside one.
async fn deliveries(
    mut write: BufWriter<OwnedWriteHalf>,
    mut rx: mpsc::Receiver<ZmqOut>,
    mut pongs: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    loop {
        tokio::select! {
            Some(pong) = pongs.recv() => zmtp::write_command(&mut write, &pong).await?,
            message = rx.recv() => {
                let Some((topic, payload)) = message else { return Ok(()) };
                zmtp::write_message(&mut write, &topic, &payload).await?;
                while let Ok((topic, payload)) = rx.try_recv() {
                    zmtp::write_message(&mut write, &topic, &payload).await?;
                }
            }
        }
        write.flush().await?;
    }
}
