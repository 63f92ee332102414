//! Members of large guilds for the cache: a GUILD_CREATE carries at most `large_threshold`
//! members, so with `[gateway.cache] request_members` each guild that came with fewer
//! members than it has gets one request for all of them (op 8), sent through the shard's
//! command budget like every other gateway command. Its chunks fill the cache and are not
//! published (no consumer asked for them).

use std::collections::VecDeque;

use switchyard_cache::Id;
use switchyard_core::outbound::{GatewayCommand, MembersRequest, Snowflake};
use twilight_gateway::Intents;

use super::runner::Runner;
use crate::command::holder::Queued;
use crate::command::now_ms;
use crate::command::pending::CACHE_NONCE;

/// Guilds waiting for their member request, in the order their GUILD_CREATE came.
#[derive(Debug, Default)]
pub(super) struct MemberRequests {
    guilds: VecDeque<u64>,
}

impl Runner {
    /// After a GUILD_CREATE: queues the guild's member request when the cache asks for
    /// members and lacks some of this guild's.
    pub(super) fn note_guild(&mut self, guild: Option<u64>) {
        let (Some(guild), Some(cache)) = (guild, &self.cache) else {
            return;
        };
        if !self.config.cache.request_members
            || !self.config.intents.contains(Intents::GUILD_MEMBERS)
        {
            return;
        }
        if crate::cache_feed::read(cache)
            .cache
            .missing_members(Id(guild))
            && !self.requests.guilds.contains(&guild)
        {
            self.requests.guilds.push_back(guild);
        }
    }

    /// Whether a member request waits to be sent.
    pub(super) fn requests_waiting(&self) -> bool {
        !self.requests.guilds.is_empty()
    }

    /// The next member request, timed now (it may have waited for the budget).
    pub(super) fn next_request(&mut self) -> Option<Queued> {
        let guild = self.requests.guilds.pop_front()?;
        let request = MembersRequest {
            guild_id: Snowflake(guild),
            query: Some(String::new()),
            limit: Some(0),
            presences: self.config.intents.contains(Intents::GUILD_PRESENCES),
            user_ids: None,
            nonce: Some(CACHE_NONCE.to_owned()),
        };
        tracing::debug!(
            shard = self.id,
            guild,
            "requesting a large guild's members for the cache"
        );
        metrics::counter!("switchyard_cache_member_requests_total").increment(1);
        Some(Queued {
            command: GatewayCommand::RequestGuildMembers(request),
            reply_to: None,
            at_ms: now_ms(),
        })
    }

    /// Forgets the waiting requests (a new session sends new GUILD_CREATEs).
    pub(super) fn forget_requests(&mut self) {
        self.requests.guilds.clear();
    }
}
