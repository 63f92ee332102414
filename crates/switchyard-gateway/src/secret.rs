//! [`Secret`]: a bot token that never shows up in logs, `Debug` or `Display` output.

use std::fmt;

/// A secret string (a bot token). `Debug` and `Display` print `<redacted>`; read it with
/// [`Secret::expose`] only where it is sent to Discord.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret. A leading `Bot ` is removed, so both forms of a token work.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        let trimmed = value.trim();
        let bare = trimmed.strip_prefix("Bot ").unwrap_or(trimmed);
        Secret(bare.to_owned())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_and_prefix_removed() {
        let s = Secret::new("Bot abc.def");
        assert_eq!(s.expose(), "abc.def");
        assert!(!format!("{s:?} {s}").contains("abc"));
        assert!(Secret::new("  ").is_empty());
    }
}
