//! Checks made while expanding: a handler's regex must compile, a catch-all's event name
//! must look like a Discord dispatch name. Errors become `compile_error!`s pointing at the
//! macro's argument.

/// Compiles `pattern` with the `regex` crate (the one the SDK matches with) and returns its
/// number of capture groups (group 0, the whole match, not counted).
pub(crate) fn check_regex(pattern: &str) -> Result<usize, String> {
    match regex::Regex::new(pattern) {
        Ok(re) => Ok(re.captures_len() - 1),
        Err(e) => Err(format!("this pattern does not compile:\n{e}")),
    }
}

/// A dispatch name: upper-case letters, digits and `_`, starting with a letter.
pub(crate) fn check_event_name(name: &str) -> Result<(), String> {
    let ok = name.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a Discord event name; use the dispatch name in upper case, such as \"GUILD_ROLE_CREATE\""
        ))
    }
}

/// The capture arguments a handler declares must exist in its pattern.
pub(crate) fn check_arity(groups: usize, args: usize) -> Result<(), String> {
    if args > groups {
        Err(format!(
            "the handler takes {args} capture argument(s) after the context, but the pattern has {groups} group(s); each argument receives one group, in order"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile_or_explain_why_not() {
        assert_eq!(check_regex(r",echo (.*)"), Ok(1));
        assert_eq!(check_regex(r"^,roll (\d+)(?: (\w+))?$"), Ok(2));
        assert_eq!(check_regex("([😄😸])"), Ok(1));
        let e = check_regex(r",echo (.*").expect_err("unclosed group");
        assert!(
            e.contains("does not compile") && e.contains("unclosed"),
            "{e}"
        );
        assert!(check_regex(r"(?<name").is_err());
    }

    #[test]
    fn event_names_and_arity() {
        assert!(check_event_name("GUILD_ROLE_CREATE").is_ok());
        assert!(check_event_name("guild_role_create").is_err());
        assert!(check_event_name("").is_err());
        assert!(check_arity(1, 1).is_ok());
        let e = check_arity(1, 2).expect_err("too many");
        assert!(e.contains("2 capture") && e.contains("1 group"), "{e}");
    }
}
