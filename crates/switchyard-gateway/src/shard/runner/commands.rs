//! The runner's part in gateway commands: whether a queued command may go now (connected,
//! within the command budget), sending it and telling its requester, and refusing what is
//! still queued when the shard will not send it.

use bytes::Bytes;
use tokio::sync::mpsc;
use twilight_gateway::{Shard, ShardState};

use super::{Item, Runner};
use crate::command::holder::Queued;
use crate::shard::gate::Gated;
use switchyard_core::outbound::{Answer, ErrorKind};

impl Runner {
    /// Whether a queued gateway command may be sent now: the shard is connected and within
    /// its command budget.
    pub(in crate::shard) fn may_command(&mut self, shard: &Shard<Gated>) -> bool {
        shard.state() == ShardState::Active && self.commands.has_budget()
    }

    /// Whether commands wait only for the budget to refill.
    pub(in crate::shard) fn out_of_budget(&mut self, shard: &Shard<Gated>) -> bool {
        shard.state() == ShardState::Active && !self.commands.has_budget()
    }

    /// Sends a queued gateway command on the shard and tells its requester.
    pub(in crate::shard) fn command(&mut self, shard: &Shard<Gated>, queued: Queued) {
        if let Some(reply) = self.commands.send(queued, |frame| shard.send(frame)) {
            self.push(Item {
                publish: reply.topic.map(|topic| (topic, reply.payload)),
                session: self.session.clone(),
                seq: None,
                id: None,
                received_ms: 0,
            });
        }
    }

    /// Answers every command still queued, which this shard will not send (it stopped, moved
    /// to another process, or closed fatally): `no_holder`, to retry once a process holds
    /// the shard again.
    pub(in crate::shard) fn refuse_queued(
        &mut self,
        commands: &mut mpsc::Receiver<Queued>,
        why: &str,
    ) {
        commands.close();
        while let Ok(queued) = commands.try_recv() {
            metrics::counter!("switchyard_commands_refused_total", "kind" => ErrorKind::NoHolder.as_str()).increment(1);
            tracing::warn!(
                shard = self.id,
                command = queued.command.name(),
                "{why}; a queued gateway command was not sent"
            );
            let Some(reply_to) = queued.reply_to else {
                continue;
            };
            let mut answer = Answer::failed(
                ErrorKind::NoHolder,
                format!(
                    "{why}: shard {} did not send the {} command; retry once a process holds the shard",
                    self.id,
                    queued.command.name()
                ),
            );
            answer.retry_after_ms = Some(1000);
            answer.shard = Some(self.id);
            self.push(Item {
                publish: Some((reply_to, Bytes::from(answer.to_json()))),
                session: self.session.clone(),
                seq: None,
                id: None,
                received_ms: 0,
            });
        }
    }
}
