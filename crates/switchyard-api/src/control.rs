//! The Control service: the node's bots and shards, and the live services it can shut down
//! or restart (`RunningControl`).

use std::sync::Arc;

use switchyard_gateway::{GatewayStatus, RunningControl, ShardPhase, ShardSnapshot};
use tonic::{Request, Response, Status};

use crate::proto::control_server::Control;
use crate::proto::{
    self, ListBotsReply, ListBotsRequest, ListServicesReply, ListServicesRequest, ServiceCommand,
    ServiceCommandReply, ShardState,
};

/// One bot's status, read afresh at each call.
pub type StatusFn = Box<dyn Fn() -> GatewayStatus + Send + Sync>;

pub(crate) struct ControlService {
    pub(crate) bots: Vec<StatusFn>,
    pub(crate) control: Option<Arc<RunningControl>>,
}

impl ControlService {
    fn control(&self) -> Result<&RunningControl, Status> {
        self.control.as_deref().ok_or_else(|| {
            Status::failed_precondition("service control does not run in this process")
        })
    }
}

#[tonic::async_trait]
impl Control for ControlService {
    async fn list_bots(
        &self,
        request: Request<ListBotsRequest>,
    ) -> Result<Response<ListBotsReply>, Status> {
        let wanted = request.into_inner().bot;
        let bots: Vec<_> = self
            .bots
            .iter()
            .map(|status| status())
            .filter(|s| wanted.is_empty() || s.bot == wanted)
            .map(bot)
            .collect();
        if bots.is_empty() && !wanted.is_empty() {
            return Err(Status::not_found(format!(
                "no bot named {wanted:?} runs here"
            )));
        }
        Ok(Response::new(ListBotsReply { bots }))
    }

    async fn list_services(
        &self,
        _request: Request<ListServicesRequest>,
    ) -> Result<Response<ListServicesReply>, Status> {
        let services = self
            .control()?
            .services()
            .into_iter()
            .map(|s| proto::Service {
                name: s.name,
                instance: s.instance,
                version: s.version,
                identified_at: s.identified_at,
                last_seen_s: s.last_seen_s,
                groups: s
                    .groups
                    .into_iter()
                    .map(|g| proto::JoinedGroup {
                        name: g.name,
                        pattern: g.pattern,
                        kind: g.kind,
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(ListServicesReply { services }))
    }

    async fn shutdown(
        &self,
        request: Request<ServiceCommand>,
    ) -> Result<Response<ServiceCommandReply>, Status> {
        let command = Command::from(request.into_inner())?;
        self.control()?
            .shutdown(&command.name, command.instance(), command.reason())
            .await
            .map_err(|e| Status::unavailable(format!("SHUTDOWN was not sent: {e}")))?;
        Ok(Response::new(ServiceCommandReply {}))
    }

    async fn reboot(
        &self,
        request: Request<ServiceCommand>,
    ) -> Result<Response<ServiceCommandReply>, Status> {
        let command = Command::from(request.into_inner())?;
        self.control()?
            .reboot(&command.name, command.instance(), command.reason())
            .await
            .map_err(|e| Status::unavailable(format!("REBOOT was not sent: {e}")))?;
        Ok(Response::new(ServiceCommandReply {}))
    }
}

/// A SHUTDOWN or REBOOT, checked.
struct Command(ServiceCommand);

impl Command {
    fn from(command: ServiceCommand) -> Result<Self, Status> {
        if command.name.is_empty() {
            metrics::counter!("switchyard_grpc_bad_requests_total", "service" => "control")
                .increment(1);
            tracing::warn!("a gRPC service command without a service name was refused");
            return Err(Status::invalid_argument(
                "name the service (ServiceCommand.name)",
            ));
        }
        Ok(Command(command))
    }

    fn instance(&self) -> Option<&str> {
        Some(self.0.instance.as_str()).filter(|i| !i.is_empty())
    }

    fn reason(&self) -> Option<&str> {
        Some(self.0.reason.as_str()).filter(|r| !r.is_empty())
    }
}

impl std::ops::Deref for Command {
    type Target = ServiceCommand;

    fn deref(&self) -> &ServiceCommand {
        &self.0
    }
}

fn bot(status: GatewayStatus) -> proto::Bot {
    proto::Bot {
        name: status.bot,
        ready: status.ready,
        total: status.total,
        identifies_remaining: status.identifies_remaining,
        identify_limit_resets_in_s: status.identify_limit_resets_in_s,
        shards: status.shards.into_iter().map(shard).collect(),
    }
}

fn shard(s: ShardSnapshot) -> proto::Shard {
    let state = match s.state {
        ShardPhase::Starting => ShardState::Starting,
        ShardPhase::Identifying => ShardState::Identifying,
        ShardPhase::Resuming => ShardState::Resuming,
        ShardPhase::Active => ShardState::Active,
        ShardPhase::Disconnected => ShardState::Disconnected,
        ShardPhase::Paused => ShardState::Paused,
        ShardPhase::Fatal => ShardState::Fatal,
        ShardPhase::Stopped => ShardState::Stopped,
    };
    proto::Shard {
        id: s.id,
        total: s.total,
        state: state.into(),
        latency_ms: s.latency_ms,
        seq: s.seq,
        session: s.session.unwrap_or_default(),
        events: s.events,
        published: s.published,
        skipped: s.skipped,
        queue_depth: s.queue_depth,
        gaps: s.gaps,
        last_close: s.last_close.map(u32::from),
        error: s.error.unwrap_or_default(),
    }
}
