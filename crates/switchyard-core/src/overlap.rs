//! Whether two subscription patterns can match the same topic (`*` is one segment, `>` one
//! or more trailing ones), with an example topic: two bots whose outbound patterns overlap
//! would each send a message published there.

use crate::topic::{Pattern, Segment};

impl Pattern {
    /// A topic both `self` and `other` match, or `None` when no topic matches both.
    ///
    /// ```
    /// use switchyard_core::Pattern;
    /// let a = Pattern::new("outbound.>").unwrap();
    /// let b = Pattern::new("outbound.discord.>").unwrap();
    /// assert_eq!(a.overlap(&b).as_deref(), Some("outbound.discord.1"));
    /// assert_eq!(b.overlap(&Pattern::new("outbound.helper.>").unwrap()), None);
    /// ```
    pub fn overlap(&self, other: &Pattern) -> Option<String> {
        let mut witness = Vec::new();
        walk(self.segments(), other.segments(), &mut witness).then(|| witness.join("."))
    }
}

/// Any one segment standing for a wildcard in the example.
const ANY: &str = "1";

fn fill(rest: &[Segment], out: &mut Vec<String>) {
    out.extend(rest.iter().map(|s| match s {
        Segment::Literal(l) => l.to_string(),
        Segment::Any | Segment::Tail => ANY.to_owned(),
    }));
}

fn walk(a: &[Segment], b: &[Segment], out: &mut Vec<String>) -> bool {
    match (a.first(), b.first()) {
        (None, None) => true,
        // `>` takes one or more segments: whatever the other pattern still needs.
        (Some(Segment::Tail), Some(_)) => {
            fill(b, out);
            true
        }
        (Some(_), Some(Segment::Tail)) => {
            fill(a, out);
            true
        }
        (Some(x), Some(y)) => {
            let segment = match (x, y) {
                (Segment::Literal(l), Segment::Literal(m)) if l == m => l.to_string(),
                (Segment::Literal(_), Segment::Literal(_)) => return false,
                (Segment::Literal(l), _) | (_, Segment::Literal(l)) => l.to_string(),
                _ => ANY.to_owned(),
            };
            out.push(segment);
            walk(&a[1..], &b[1..], out)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(a: &str, b: &str) -> Option<String> {
        let (a, b) = (
            Pattern::new(a).expect("pattern"),
            Pattern::new(b).expect("pattern"),
        );
        let forward = a.overlap(&b);
        assert_eq!(forward.is_some(), b.overlap(&a).is_some(), "symmetric");
        if let Some(t) = &forward {
            assert!(a.matches(t) && b.matches(t), "{t} matches both");
        }
        forward
    }

    #[test]
    fn overlapping_and_disjoint_patterns() {
        assert_eq!(
            o("outbound.>", "outbound.discord.>").as_deref(),
            Some("outbound.discord.1")
        );
        assert!(o("outbound.discord.>", "outbound.discord.>").is_some());
        assert!(o("outbound.*.1.>", "outbound.discord.>").is_some());
        assert!(o("outbound.*.*.*.*", "outbound.discord.>").is_some());
        assert!(o("outbound.discord.1.2.3", "outbound.*.1.*.3").is_some());
        assert!(o("outbound.discord.>", "outbound.helper.>").is_none());
        assert!(
            o("outbound.*", "outbound.discord.>").is_none(),
            "`>` needs a segment"
        );
        assert!(o("outbound.discord", "outbound.discord.>").is_none());
        assert!(o("outbound.*.*", "outbound.*.*.*").is_none());
        assert!(o("a.*.c", "a.b.d").is_none());
    }
}
