//! Members and users in a compact form of their own (there may be millions), read from
//! Discord's member objects and written back in Discord's shape.

use serde::{Deserialize, Deserializer, Serialize};

use crate::id::Id;

/// A user, kept once however many guilds it shares with the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct User {
    pub id: Id,
    pub username: Box<str>,
    #[serde(default)]
    pub global_name: Option<Box<str>>,
    #[serde(default = "no_discriminator")]
    pub discriminator: Box<str>,
    #[serde(default)]
    pub avatar: Option<Box<str>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub bot: bool,
}

fn no_discriminator() -> Box<str> {
    "0".into()
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A member of one guild, without its user (kept apart, see [`User`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Member {
    #[serde(default)]
    pub nick: Option<Box<str>>,
    #[serde(default)]
    pub avatar: Option<Box<str>>,
    #[serde(default)]
    pub roles: Box<[Id]>,
    #[serde(default)]
    pub joined_at: Option<Box<str>>,
    #[serde(default)]
    pub premium_since: Option<Box<str>>,
    #[serde(default)]
    pub deaf: bool,
    #[serde(default)]
    pub mute: bool,
    #[serde(default)]
    pub pending: bool,
    #[serde(default)]
    pub flags: u64,
    #[serde(default)]
    pub communication_disabled_until: Option<Box<str>>,
}

/// A member object as Discord sends it: the member and its user.
#[derive(Debug, Deserialize)]
pub(crate) struct MemberIn {
    pub user: User,
    #[serde(flatten)]
    pub member: Member,
}

/// A member in Discord's shape, with its user.
#[derive(Serialize)]
pub(crate) struct MemberOut<'a> {
    pub user: &'a User,
    #[serde(flatten)]
    pub member: &'a Member,
}

/// GUILD_MEMBER_UPDATE: the fields it carries replace the cached ones, the absent ones keep
/// their cached values (`null` clears a nullable one).
#[derive(Debug, Deserialize)]
pub(crate) struct MemberUpdate {
    pub guild_id: Id,
    pub user: User,
    #[serde(default)]
    pub roles: Option<Box<[Id]>>,
    #[serde(default, deserialize_with = "present")]
    pub nick: Option<Option<Box<str>>>,
    #[serde(default, deserialize_with = "present")]
    pub avatar: Option<Option<Box<str>>>,
    #[serde(default, deserialize_with = "present")]
    pub joined_at: Option<Option<Box<str>>>,
    #[serde(default, deserialize_with = "present")]
    pub premium_since: Option<Option<Box<str>>>,
    #[serde(default)]
    pub deaf: Option<bool>,
    #[serde(default)]
    pub mute: Option<bool>,
    #[serde(default)]
    pub pending: Option<bool>,
    #[serde(default)]
    pub flags: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub communication_disabled_until: Option<Option<Box<str>>>,
}

/// A key that is present (possibly `null`): `Some(value or None)`; absent keys stay `None`
/// through `#[serde(default)]`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl MemberUpdate {
    /// The member after this update, from the cached one (or a new one, when it was not
    /// cached: the update then carries what Discord knows).
    pub fn apply(self, cached: Option<&Member>) -> Member {
        let mut m = cached.cloned().unwrap_or(Member {
            nick: None,
            avatar: None,
            roles: Box::default(),
            joined_at: None,
            premium_since: None,
            deaf: false,
            mute: false,
            pending: false,
            flags: 0,
            communication_disabled_until: None,
        });
        if let Some(roles) = self.roles {
            m.roles = roles;
        }
        if let Some(v) = self.nick {
            m.nick = v;
        }
        if let Some(v) = self.avatar {
            m.avatar = v;
        }
        if let Some(v) = self.joined_at {
            m.joined_at = v;
        }
        if let Some(v) = self.premium_since {
            m.premium_since = v;
        }
        if let Some(v) = self.deaf {
            m.deaf = v;
        }
        if let Some(v) = self.mute {
            m.mute = v;
        }
        if let Some(v) = self.pending {
            m.pending = v;
        }
        if let Some(v) = self.flags {
            m.flags = v;
        }
        if let Some(v) = self.communication_disabled_until {
            m.communication_disabled_until = v;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMBER: &str = r#"{"user":{"id":"80351110224678912","username":"Nelly","global_name":"Nel","discriminator":"0","avatar":"8342729096ea3675442027381ff50dfe","public_flags":64},"nick":"NOT API SUPPORT","avatar":null,"roles":["41771983423143936"],"joined_at":"2015-04-26T06:26:56.936000+00:00","premium_since":null,"deaf":false,"mute":false,"flags":0,"pending":false,"communication_disabled_until":null}"#;

    #[test]
    fn a_member_reads_and_writes_back_in_discords_shape() {
        let m: MemberIn = serde_json::from_str(MEMBER).expect("member");
        let out = serde_json::to_value(MemberOut {
            user: &m.user,
            member: &m.member,
        })
        .expect("json");
        let mut expected: serde_json::Value = serde_json::from_str(MEMBER).expect("json");
        // public_flags is not kept
        expected["user"]
            .as_object_mut()
            .expect("user")
            .remove("public_flags");
        assert_eq!(out, expected);
    }

    #[test]
    fn an_update_keeps_what_it_does_not_carry_and_clears_what_it_nulls() {
        let m: MemberIn = serde_json::from_str(MEMBER).expect("member");
        let up: MemberUpdate = serde_json::from_str(
            r#"{"guild_id":"1","user":{"id":"80351110224678912","username":"Nelly"},"roles":[],"nick":null}"#,
        )
        .expect("update");
        let after = up.apply(Some(&m.member));
        assert_eq!(after.nick, None, "null clears");
        assert!(after.roles.is_empty(), "roles replaced");
        assert_eq!(
            after.joined_at.as_deref(),
            Some("2015-04-26T06:26:56.936000+00:00"),
            "absent keeps"
        );
    }
}
