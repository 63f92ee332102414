//! Tests of the parent module.

use super::*;

fn p(s: &str) -> Pattern {
    Pattern::new(s).expect("valid pattern")
}

#[test]
fn star_is_one_segment_tail_is_one_or_more() {
    assert!(p("a.*.c").matches("a.b.c"));
    assert!(!p("a.*.c").matches("a.b.x.c"));
    assert!(!p("a.*").matches("a"));
    assert!(p("a.>").matches("a.b"));
    assert!(p("a.>").matches("a.b.c.d"));
    assert!(!p("a.>").matches("a"));
    assert!(p(">").matches("x"));
    assert!(!p("a.b").matches("a.b.c"));
    assert!(!p("a.b.c").matches("a.b"));
}

#[test]
fn topic_errors_quote_the_input_and_name_the_problem() {
    let e = Topic::new("inbound..x").unwrap_err();
    assert_eq!(e.problem, NameProblem::EmptySegment { segment: 1 });
    assert!(e.to_string().contains("\"inbound..x\""), "{e}");
    assert!(matches!(
        Topic::new("a.*.c").unwrap_err().problem,
        NameProblem::WildcardInTopic { segment: 1 }
    ));
    assert!(matches!(
        Topic::new("a b").unwrap_err().problem,
        NameProblem::Whitespace { offset: 1 }
    ));
    assert_eq!(Topic::new("").unwrap_err().problem, NameProblem::Empty);
    assert!(matches!(
        Topic::new(".a").unwrap_err().problem,
        NameProblem::EmptySegment { segment: 0 }
    ));
    let long = "x".repeat(5000);
    let e = Topic::new(&long).unwrap_err();
    assert!(e.input.len() < 100, "error quotes a truncated input");
}

proptest::proptest! {
    #[test]
    fn the_one_pass_check_agrees_with_every_rule(s in "[a-z0-9.*> \\t\u{7f}\u{a0}é_-]{0,12}") {
        proptest::prop_assert_eq!(Topic::check(&s).is_ok(), Topic::check_full(&s).is_ok());
        if plain_ascii_topic(&s) {
            proptest::prop_assert!(Topic::check_full(&s).is_ok());
        }
    }
}

#[test]
fn pattern_errors() {
    assert!(matches!(
        Pattern::new("a.>.c").unwrap_err().problem,
        NameProblem::TailNotLast { segment: 1 }
    ));
    assert!(matches!(
        Pattern::new("a.b*").unwrap_err().problem,
        NameProblem::PartialWildcard { segment: 1 }
    ));
    assert!(matches!(
        Pattern::new("a.\tb").unwrap_err().problem,
        NameProblem::Whitespace { .. }
    ));
}

#[test]
fn redis_glob_escapes_glob_characters_in_literals() {
    assert_eq!(p("a?.[x].*.>").to_redis_glob(), "a\\?.\\[x\\].*.*");
    assert_eq!(
        p("inbound.discord.>").to_nats_subject(),
        "inbound.discord.>"
    );
}
