//! Computed permissions against twilight-util's calculator: after the churn, for every
//! member of every guild, in the guild and in each of its channels, the cache's permissions
//! (from what it cached) agree with twilight-util's (from the fake's own state), where
//! twilight follows Discord's documentation. Where it departs, the comparison says how:
//! - in a channel, twilight drops the guild-level permissions (kick, ban, manage guild…) and
//!   those that do not apply to the channel's type; the cache gives what Discord's
//!   algorithm gives, so the cache's answer is compared with those bits taken out;
//! - twilight applies "no VIEW_CHANNEL, nothing else" only when an overwrite denies it;
//!   Discord's rule holds whatever took it away, so where twilight's set lacks
//!   VIEW_CHANNEL both must lack it, and the cache must then have nothing;
//! - likewise "no SEND_MESSAGES, no MENTION_EVERYONE, SEND_TTS_MESSAGES, EMBED_LINKS nor
//!   ATTACH_FILES": twilight applies it only when an overwrite denies SEND_MESSAGES;
//! - twilight knows the permission bits of its model only: both are compared on those;
//! - the owner and administrators have every permission in every channel, for both.
//!
//! Timeouts are compared apart (twilight-util has no notion of them): the cache is asked
//! at a time after every timeout, and `permissions.rs`'s unit tests cover the rule.

use serde_json::Value;
use switchyard_cache::{Id, VIEW_CHANNEL};
use twilight_model::channel::ChannelType;
use twilight_model::channel::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType};
use twilight_model::guild::Permissions;
use twilight_model::id::Id as TwId;
use twilight_util::permission_calculator::PermissionCalculator;

const SEND_MESSAGES: u64 = 1 << 11;
/// What needs SEND_MESSAGES: SEND_TTS_MESSAGES, EMBED_LINKS, ATTACH_FILES, MENTION_EVERYONE.
const MESSAGING: u64 = (1 << 12) | (1 << 14) | (1 << 15) | (1 << 17);

/// Long after every timeout the churn sets.
const LATER_MS: u64 = u64::MAX / 2;

fn id(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn bits(v: &Value) -> Permissions {
    Permissions::from_bits_truncate(id(v))
}

/// The overwrites that apply in `channel`: its own, or its parent's for a thread.
fn overwrites(state: &switchyard_sim::LiveState, channel: &Value) -> Vec<PermissionOverwrite> {
    let thread = matches!(channel["type"].as_u64(), Some(10..=12));
    let source = if thread {
        state
            .channel(id(&channel["parent_id"]))
            .unwrap_or(Value::Null)
    } else {
        channel.clone()
    };
    source["permission_overwrites"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|o| PermissionOverwrite {
                    id: TwId::new(id(&o["id"]).max(1)),
                    kind: if o["type"] == 1 {
                        PermissionOverwriteType::Member
                    } else {
                        PermissionOverwriteType::Role
                    },
                    allow: bits(&o["allow"]),
                    deny: bits(&o["deny"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn permissions_agree_with_twilight_util_where_it_follows_discord() {
    let mut churn = crate::churn(21);
    let mut cache = crate::cache();
    for (at, (name, d)) in crate::start(&churn).iter().enumerate() {
        crate::apply(&mut cache, at, name, d);
    }
    for (at, ev) in crate::stream(&mut churn).iter().enumerate() {
        crate::apply(&mut cache, at, ev.name, &ev.d);
    }
    let state = churn.state();
    let known = Permissions::all().bits();
    let (mut compared, mut in_channels) = (0, 0);
    for g in state.guild_ids() {
        let guild = state.guild(g).expect("guild");
        let roles: Vec<(u64, Permissions)> = state
            .roles(g)
            .iter()
            .map(|r| (id(&r["id"]), bits(&r["permissions"])))
            .collect();
        let everyone = roles
            .iter()
            .find(|(r, _)| *r == g)
            .map_or(Permissions::empty(), |(_, p)| *p);
        for user in state.member_ids(g) {
            let member = state.member(g, user).expect("member");
            let mine: Vec<u64> = member["roles"]
                .as_array()
                .map(|r| r.iter().map(id).collect())
                .unwrap_or_default();
            let member_roles: Vec<_> = roles
                .iter()
                .filter(|(r, _)| mine.contains(r))
                .map(|(r, p)| (TwId::new(*r), *p))
                .collect();
            let owner = TwId::new(id(&guild["owner_id"]).max(1));
            let calc = || {
                PermissionCalculator::new(TwId::new(g), TwId::new(user), everyone, &member_roles)
                    .owner_id(owner)
            };
            let ours = cache
                .permissions(Id(g), Id(user), None, LATER_MS)
                .unwrap_or_else(|e| panic!("guild {g}, member {user}: {e}"));
            assert_eq!(
                ours & known,
                calc().root().bits(),
                "guild {g}, member {user}: in the guild"
            );
            compared += 1;
            for channel in state.channels(g) {
                let cid = id(&channel["id"]);
                let kind = ChannelType::from(channel["type"].as_u64().unwrap_or(0) as u8);
                let theirs = calc().in_channel(kind, &overwrites(state, &channel)).bits();
                let ours = cache
                    .permissions(Id(g), Id(user), Some(Id(cid)), LATER_MS)
                    .unwrap_or_else(|e| panic!("guild {g}, member {user}, channel {cid}: {e}"));
                let at = format!("guild {g}, member {user}, channel {cid} (type {kind:?})");
                if theirs == known {
                    assert_eq!(ours & known, known, "{at}: the owner or an administrator");
                } else if theirs & VIEW_CHANNEL == 0 {
                    assert_eq!(ours, 0, "{at}: no VIEW_CHANNEL, nothing else");
                } else if ours & VIEW_CHANNEL != 0 {
                    let dropped = twilight_drops(kind);
                    // Without SEND_MESSAGES, the four that need it go too (Discord's rule,
                    // whatever took SEND_MESSAGES away; twilight's only after an overwrite).
                    let implicit = if theirs & SEND_MESSAGES == 0 {
                        MESSAGING
                    } else {
                        0
                    };
                    assert_eq!(ours & known & !dropped, theirs & !implicit, "{at}");
                } else {
                    panic!("{at}: twilight sees the channel ({theirs:#x}), the cache does not");
                }
                in_channels += 1;
            }
        }
    }
    assert!(
        compared > 100 && in_channels > 1000,
        "{compared} members, {in_channels} channel checks"
    );
}

/// The bits twilight's `in_channel` takes out of a channel's permissions (the root-only
/// ones, and those that do not apply to the channel's type), read off twilight itself: what
/// it leaves of every permission but ADMINISTRATOR, without overwrites.
fn twilight_drops(kind: ChannelType) -> u64 {
    let everything = Permissions::all() - Permissions::ADMINISTRATOR;
    let kept = PermissionCalculator::new(TwId::new(1), TwId::new(2), everything, &[])
        .in_channel(kind, &[]);
    (everything - kept).bits()
}
