//! The subscription index: a trie over pattern segments, so that finding the subscribers of a
//! topic costs the topic's depth (times the wildcard branches), not the number of patterns.

use foldhash::HashMap;
use switchyard_core::topic::Segment;

/// Subscriber ids are assigned by the hub.
pub(crate) type SubId = u64;

#[derive(Default, Debug)]
pub(crate) struct Node {
    literal: HashMap<Box<str>, Node>,
    any: Option<Box<Node>>,
    /// Patterns ending in `>` here: they match when at least one segment remains.
    tail: Vec<SubId>,
    /// Patterns ending exactly here.
    here: Vec<SubId>,
}

impl Node {
    /// Adds `id` under `segments`.
    pub(crate) fn insert(&mut self, segments: &[Segment], id: SubId) {
        match segments.split_first() {
            None => self.here.push(id),
            Some((Segment::Tail, _)) => self.tail.push(id),
            Some((Segment::Any, rest)) => self.any.get_or_insert_default().insert(rest, id),
            Some((Segment::Literal(lit), rest)) => self
                .literal
                .entry(lit.clone())
                .or_default()
                .insert(rest, id),
        }
    }

    /// Removes `id` from under `segments`, pruning nodes left empty. Returns whether this
    /// node is now empty.
    pub(crate) fn remove(&mut self, segments: &[Segment], id: SubId) -> bool {
        match segments.split_first() {
            None => self.here.retain(|&s| s != id),
            Some((Segment::Tail, _)) => self.tail.retain(|&s| s != id),
            Some((Segment::Any, rest)) => {
                if let Some(child) = self.any.as_mut()
                    && child.remove(rest, id)
                {
                    self.any = None;
                }
            }
            Some((Segment::Literal(lit), rest)) => {
                if let Some(child) = self.literal.get_mut(lit)
                    && child.remove(rest, id)
                {
                    self.literal.remove(lit);
                }
            }
        }
        self.is_empty()
    }

    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.any.is_none()
            && self.tail.is_empty()
            && self.here.is_empty()
    }

    /// Appends the ids of every pattern matching the topic made of `segments`.
    pub(crate) fn collect<'a>(
        &self,
        mut segments: impl Iterator<Item = &'a str> + Clone,
        out: &mut Vec<SubId>,
    ) {
        let Some(first) = segments.next() else {
            out.extend_from_slice(&self.here);
            return;
        };
        out.extend_from_slice(&self.tail);
        if let Some(child) = self.literal.get(first) {
            child.collect(segments.clone(), out);
        }
        if let Some(child) = &self.any {
            child.collect(segments, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use switchyard_core::Pattern;

    fn ids_for(root: &Node, topic: &str) -> Vec<SubId> {
        let mut out = Vec::new();
        root.collect(topic.split('.'), &mut out);
        out.sort_unstable();
        out
    }

    proptest! {
        #[test]
        fn trie_agrees_with_pattern_matches(
            patterns in prop::collection::vec("(a|b|\\*)(\\.(a|b|\\*)){0,3}(\\.>)?", 1..20),
            topic in "(a|b|c)(\\.(a|b|c)){0,4}",
            remove in prop::collection::vec(any::<bool>(), 20),
        ) {
            let parsed: Vec<Pattern> = patterns.iter().map(|p| Pattern::new(p).expect("valid")).collect();
            let mut root = Node::default();
            for (i, p) in parsed.iter().enumerate() {
                root.insert(p.segments(), i as SubId);
            }
            for (i, p) in parsed.iter().enumerate() {
                if remove[i] {
                    root.remove(p.segments(), i as SubId);
                }
            }
            let want: Vec<SubId> = parsed.iter().enumerate()
                .filter(|(i, p)| !remove[*i] && p.matches(&topic))
                .map(|(i, _)| i as SubId)
                .collect();
            prop_assert_eq!(ids_for(&root, &topic), want);
        }
    }

    #[test]
    fn removing_everything_prunes_the_trie() {
        let mut root = Node::default();
        let p = Pattern::new("a.*.c.>").expect("valid");
        root.insert(p.segments(), 1);
        assert!(root.remove(p.segments(), 1));
        assert!(root.is_empty());
    }
}
