//! [`FaceTokens`]: the tokens clients of the face identify with, in Discord's form (the bot's
//! user id in base64, a dot, anything), so that libraries that read the bot's id from the
//! token read the right one. The bot's Discord token never leaves Switchyard.

use base64::Engine as _;
use subtle::ConstantTimeEq;
use switchyard_core::token::{strip_token_prefix, token_user_id};

/// The face's client tokens. Its `Debug` shows how many, never what they are.
#[derive(Clone, Default)]
pub struct FaceTokens {
    tokens: Vec<String>,
}

impl std::fmt::Debug for FaceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaceTokens({} configured)", self.tokens.len())
    }
}

/// Why a configured token cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token at all: nobody could connect.
    #[error("no face token is configured: set face.tokens (or SWITCHYARD_FACE_TOKENS)")]
    None,
    /// A token that is not in Discord's form.
    #[error(
        "face token #{0} is not in Discord's form (the bot's user id in base64, a dot, then at least 16 more characters)"
    )]
    Malformed(usize),
}

impl FaceTokens {
    /// The tokens, checked for Discord's form (`Bot ` prefixes are dropped).
    pub fn new(tokens: impl IntoIterator<Item = String>) -> Result<Self, TokenError> {
        let tokens: Vec<String> = tokens
            .into_iter()
            .map(|t| strip_token_prefix(&t).to_owned())
            .collect();
        if tokens.is_empty() {
            return Err(TokenError::None);
        }
        for (i, t) in tokens.iter().enumerate() {
            match t.split_once('.') {
                Some((_, rest)) if token_user_id(t).is_some() && rest.len() >= 16 => {}
                _ => return Err(TokenError::Malformed(i + 1)),
            }
        }
        Ok(FaceTokens { tokens })
    }

    /// A token for the bot `user_id`, in Discord's form, with `secret` (at least 16
    /// characters of the caller's choosing, such as random hex) after the id.
    pub fn mint(user_id: u64, secret: &str) -> String {
        let id = base64::engine::general_purpose::STANDARD_NO_PAD.encode(user_id.to_string());
        format!("{id}.{secret}")
    }

    /// Whether `presented` (with or without `Bot `) is one of the tokens, compared in
    /// constant time.
    pub fn check(&self, presented: &str) -> bool {
        let presented = strip_token_prefix(presented).as_bytes();
        let mut found = subtle::Choice::from(0);
        for t in &self.tokens {
            found |= t.as_bytes().ct_eq(presented);
        }
        found.into()
    }

    /// The tokens whose id part is not `bot`'s user id: libraries would take the bot for
    /// another user.
    pub fn not_for(&self, bot: u64) -> usize {
        self.tokens
            .iter()
            .filter(|t| token_user_id(t) != Some(bot))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_carry_the_bot_id_and_check() {
        let t = FaceTokens::mint(80351110224678912, "0123456789abcdef0123");
        assert!(t.starts_with("ODAzNTExMTAyMjQ2Nzg5MTI."), "{t}");
        let tokens = FaceTokens::new([t.clone()]).expect("valid");
        assert!(tokens.check(&t));
        assert!(tokens.check(&format!("Bot {t}")));
        assert!(!tokens.check("ODAzNTExMTAyMjQ2Nzg5MTI.0123456789abcdef0124"));
        assert_eq!(tokens.not_for(80351110224678912), 0);
        assert_eq!(tokens.not_for(1), 1);
        assert_eq!(format!("{tokens:?}"), "FaceTokens(1 configured)");
    }

    #[test]
    fn tokens_not_in_discords_form_are_refused() {
        assert_eq!(FaceTokens::new(Vec::new()).err(), Some(TokenError::None));
        assert_eq!(
            FaceTokens::new(["hunter2".to_owned()]).err(),
            Some(TokenError::Malformed(1))
        );
        assert_eq!(
            FaceTokens::new(["ODAzNTExMTAyMjQ2Nzg5MTI.short".to_owned()]).err(),
            Some(TokenError::Malformed(1))
        );
    }
}
