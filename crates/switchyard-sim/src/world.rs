//! The seeded world: guilds with channels, roles and members, generated deterministically
//! from a seed, and their Discord-shaped JSON.

use serde_json::{Value, json};

use crate::ids::{BotIdentity, iso8601, snowflake_ms};

/// A user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Snowflake.
    pub id: u64,
    /// Unique username.
    pub username: String,
    /// Display name.
    pub global_name: Option<String>,
    /// Avatar hash.
    pub avatar: Option<String>,
    /// Whether the user is a bot.
    pub bot: bool,
}

impl User {
    /// The user object.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id.to_string(),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
            "banner": null,
            "accent_color": null,
            "avatar_decoration_data": null,
            "primary_guild": null,
            "collectibles": null,
            "banner_color": null,
            "clan": null,
        });
        if self.bot {
            v["bot"] = Value::Bool(true);
        }
        v
    }

    /// The user of a bot identity.
    pub(crate) fn bot(identity: &BotIdentity) -> Self {
        Self {
            id: identity.user_id,
            username: identity.username.clone(),
            global_name: None,
            avatar: None,
            bot: true,
        }
    }
}

/// A guild member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The user.
    pub user: User,
    /// Role ids.
    pub roles: Vec<u64>,
    /// Nickname.
    pub nick: Option<String>,
    /// Join time, Unix ms.
    pub joined_ms: u64,
}

impl Member {
    /// The member object; `with_user` adds the `user` field (omitted in message events).
    pub(crate) fn to_json(&self, with_user: bool) -> Value {
        let mut v = json!({
            "roles": self.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
            "nick": self.nick,
            "avatar": null,
            "banner": null,
            "joined_at": iso8601(self.joined_ms),
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "communication_disabled_until": null,
        });
        if with_user {
            v["user"] = self.user.to_json();
        }
        v
    }
}

/// A channel (guild text/voice channel or DM).
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Snowflake.
    pub id: u64,
    /// The guild, absent for DMs.
    pub guild_id: Option<u64>,
    /// Discord channel type: 0 text, 1 DM, 2 voice.
    pub kind: u8,
    /// Name (empty for DMs).
    pub name: String,
    /// Sorting position.
    pub position: u32,
    /// The other user of a DM.
    pub recipient: Option<User>,
}

impl Channel {
    /// The channel object.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id.to_string(),
            "type": self.kind,
            "last_message_id": null,
            "flags": 0,
        });
        if let Some(g) = self.guild_id {
            v["guild_id"] = Value::String(g.to_string());
            v["name"] = Value::String(self.name.clone());
            v["position"] = json!(self.position);
            v["permission_overwrites"] = json!([]);
            v["parent_id"] = Value::Null;
            v["nsfw"] = Value::Bool(false);
            if self.kind == 0 {
                v["topic"] = Value::String(format!("Talk about {} here", self.name));
                v["rate_limit_per_user"] = json!(0);
            } else {
                v["bitrate"] = json!(64_000);
                v["user_limit"] = json!(0);
                v["rtc_region"] = Value::Null;
            }
        }
        if let Some(r) = &self.recipient {
            v["recipients"] = json!([r.to_json()]);
        }
        v
    }
}

/// A role.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// Snowflake (the guild id for @everyone).
    pub id: u64,
    /// Name.
    pub name: String,
    /// RGB colour.
    pub color: u32,
    /// Position.
    pub position: u32,
}

impl Role {
    /// The role object.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(), "name": self.name, "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": null, "tertiary_color": null},
            "hoist": false, "icon": null, "unicode_emoji": null, "position": self.position,
            "permissions": "2248473465835073", "managed": false, "mentionable": false,
            "flags": 0, "description": null,
        })
    }
}

/// A guild.
#[derive(Debug, Clone, PartialEq)]
pub struct Guild {
    /// Snowflake.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Owner (one of the members).
    pub owner_id: u64,
    /// Roles, @everyone first.
    pub roles: Vec<Role>,
    /// Channels: text channels, then one voice channel.
    pub channels: Vec<Channel>,
    /// Members (without the bots).
    pub members: Vec<Member>,
}

impl Guild {
    /// The shard a guild belongs to with `shards` shards.
    pub fn shard(id: u64, shards: u32) -> u32 {
        ((id >> 22) % u64::from(shards.max(1))) as u32
    }

    /// The guild object of REST `GET /guilds/{id}`.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(), "name": self.name, "icon": null, "icon_hash": null,
            "splash": null, "discovery_splash": null, "owner_id": self.owner_id.to_string(),
            "region": "deprecated", "afk_channel_id": null, "afk_timeout": 300,
            "widget_enabled": false, "widget_channel_id": null, "verification_level": 1,
            "default_message_notifications": 1, "explicit_content_filter": 2,
            "roles": self.roles.iter().map(Role::to_json).collect::<Vec<_>>(),
            "emojis": [], "stickers": [], "features": ["COMMUNITY", "NEWS"],
            "mfa_level": 0, "application_id": null, "system_channel_id": self.channels.first().map(|c| c.id.to_string()),
            "system_channel_flags": 0, "rules_channel_id": null, "max_presences": null,
            "max_members": 500_000, "vanity_url_code": null, "description": null,
            "banner": null, "premium_tier": 1, "premium_subscription_count": 3,
            "preferred_locale": "en-US", "public_updates_channel_id": null,
            "max_video_channel_users": 25, "max_stage_video_channel_users": 50,
            "nsfw_level": 0, "premium_progress_bar_enabled": false,
            "safety_alerts_channel_id": null, "incidents_data": null,
        })
    }

    /// The GUILD_CREATE payload seen by `bot`, with at most `large_threshold` members.
    pub(crate) fn create_json(&self, bot: &BotIdentity, large_threshold: usize) -> Value {
        let mut v = self.to_json();
        let bot_member = self.bot_member(bot);
        let total = self.members.len() + 1;
        let mut members: Vec<Value> = vec![bot_member.to_json(true)];
        members.extend(
            self.members
                .iter()
                .take(large_threshold.saturating_sub(1))
                .map(|m| m.to_json(true)),
        );
        let fields = [
            (
                "joined_at",
                Value::String(iso8601(snowflake_ms(self.id) + 86_400_000)),
            ),
            ("large", Value::Bool(total > large_threshold)),
            ("unavailable", Value::Bool(false)),
            ("member_count", json!(total)),
            ("voice_states", json!([])),
            ("members", Value::Array(members)),
            (
                "channels",
                Value::Array(
                    self.channels
                        .iter()
                        .map(|c| {
                            let mut c = c.to_json();
                            if let Some(o) = c.as_object_mut() {
                                o.remove("guild_id");
                            }
                            c
                        })
                        .collect(),
                ),
            ),
            ("threads", json!([])),
            ("presences", json!([])),
            ("stage_instances", json!([])),
            ("guild_scheduled_events", json!([])),
            ("soundboard_sounds", json!([])),
            ("lazy", Value::Bool(true)),
        ];
        if let Some(o) = v.as_object_mut() {
            for (k, val) in fields {
                o.insert(k.to_owned(), val);
            }
        }
        v
    }

    /// The member object of a bot in this guild.
    pub(crate) fn bot_member(&self, bot: &BotIdentity) -> Member {
        Member {
            user: User::bot(bot),
            roles: vec![],
            nick: None,
            joined_ms: snowflake_ms(self.id) + 86_400_000,
        }
    }

    /// A member by user id (bots are not listed here).
    pub fn member(&self, user_id: u64) -> Option<&Member> {
        self.members.iter().find(|m| m.user.id == user_id)
    }
}

/// Every generated guild.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct World {
    /// The guilds.
    pub guilds: Vec<Guild>,
}

impl World {
    /// A guild by id.
    pub fn guild(&self, id: u64) -> Option<&Guild> {
        self.guilds.iter().find(|g| g.id == id)
    }

    /// A guild channel by id.
    pub fn channel(&self, id: u64) -> Option<&Channel> {
        self.guilds
            .iter()
            .flat_map(|g| g.channels.iter())
            .find(|c| c.id == id)
    }

    /// A user who is a member somewhere, by id.
    pub fn user(&self, id: u64) -> Option<&User> {
        self.guilds
            .iter()
            .flat_map(|g| g.members.iter())
            .map(|m| &m.user)
            .find(|u| u.id == id)
    }

    /// The guilds of one shard.
    pub fn shard_guilds(&self, shard: u32, shards: u32) -> impl Iterator<Item = &Guild> {
        self.guilds
            .iter()
            .filter(move |g| Guild::shard(g.id, shards) == shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorldConfig;

    #[test]
    fn same_seed_same_world_other_seed_other_world() {
        let cfg = WorldConfig::default();
        assert_eq!(World::generate(&cfg), World::generate(&cfg));
        let other = WorldConfig {
            seed: 2,
            ..cfg.clone()
        };
        assert_ne!(World::generate(&cfg), World::generate(&other));
        let w = World::generate(&cfg);
        assert_eq!(w.guilds.len(), cfg.guilds);
        assert_eq!(w.guilds[0].members.len(), cfg.members_per_guild);
        assert_eq!(w.guilds[0].channels.len(), cfg.channels_per_guild + 1);
    }

    #[test]
    fn guilds_spread_over_shards() {
        for guilds in [8, 16, 64] {
            let w = World::generate(&WorldConfig {
                guilds,
                ..WorldConfig::default()
            });
            for shards in [2u32, 3, 4] {
                let used: std::collections::HashSet<u32> = w
                    .guilds
                    .iter()
                    .map(|g| Guild::shard(g.id, shards))
                    .collect();
                assert_eq!(
                    used.len(),
                    shards as usize,
                    "{guilds} guilds over {shards} shards"
                );
            }
        }
    }

    #[test]
    fn guild_create_is_realistic() {
        let w = World::generate(&WorldConfig::default());
        let bot = BotIdentity::from_token("t");
        let g = w.guilds[0].create_json(&bot, 250);
        assert_eq!(g["id"], w.guilds[0].id.to_string());
        assert_eq!(g["members"][0]["user"]["id"], bot.user_id.to_string());
        assert!(serde_json::to_vec(&g).map(|v| v.len()).unwrap_or(0) > 5_000);
    }
}
