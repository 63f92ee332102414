//! Reads the process's own `/metrics` text (as the exporter renders it) into samples, so
//! that the dashboard shows the figures the metrics already measure and nothing else.

use std::collections::BTreeMap;

/// One sample: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of the rendered metrics, by metric name.
#[derive(Debug, Default)]
pub(super) struct Samples(BTreeMap<String, Vec<Sample>>);

impl Samples {
    /// Parses Prometheus text exposition (comments skipped; a malformed line is left out).
    pub(super) fn parse(text: &str) -> Samples {
        let mut by_name: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if let Some((name, sample)) = parse_line(line) {
                by_name.entry(name).or_default().push(sample);
            }
        }
        Samples(by_name)
    }

    /// The samples of `name` (none if it was never recorded).
    pub(super) fn get(&self, name: &str) -> &[Sample] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether `name` was recorded at all.
    pub(super) fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The sum of `name` over all its labels.
    pub(super) fn sum(&self, name: &str) -> f64 {
        self.get(name).iter().map(|s| s.value).sum()
    }

    /// The sum of `name` by the value of its label `label`.
    pub(super) fn sum_by(&self, name: &str, label: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for s in self.get(name) {
            let key = s.labels.get(label).cloned().unwrap_or_default();
            *out.entry(key).or_insert(0.0) += s.value;
        }
        out
    }
}

fn parse_line(line: &str) -> Option<(String, Sample)> {
    let (name, labels, rest) = match line.split_once('{') {
        Some((name, rest)) => {
            let (labels, rest) = parse_labels(rest)?;
            (name, labels, rest)
        }
        None => {
            let (name, rest) = line.split_once(' ')?;
            (name, BTreeMap::new(), rest)
        }
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name.to_owned(), Sample { labels, value }))
}

/// `a="x",b="y"}` and what follows the brace.
fn parse_labels(s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut i = 0;
    loop {
        i += s[i..].len() - s[i..].trim_start_matches([',', ' ']).len();
        if s[i..].starts_with('}') {
            return Some((labels, &s[i + 1..]));
        }
        let eq = s[i..].find('=')? + i;
        let key = s[i..eq].trim().to_owned();
        i = eq + 1;
        if !s[i..].starts_with('"') {
            return None;
        }
        i += 1;
        let mut value = String::new();
        loop {
            let c = s[i..].chars().next()?;
            i += c.len_utf8();
            match c {
                '"' => break,
                '\\' => {
                    let escaped = s[i..].chars().next()?;
                    i += escaped.len_utf8();
                    value.push(if escaped == 'n' { '\n' } else { escaped });
                }
                c => value.push(c),
            }
        }
        labels.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_labels_and_values() {
        let text = "# TYPE switchyard_gateway_events_total counter\n\
            switchyard_gateway_events_total{shard=\"0\",event=\"MESSAGE_CREATE\"} 7\n\
            switchyard_gateway_events_total{shard=\"1\",event=\"MESSAGE_CREATE\"} 3\n\
            switchyard_gateway_events_total{shard=\"1\",event=\"READY\"} 1\n\
            switchyard_resp_clients 2\n\
            odd{reason=\"a \\\"quoted\\\", comma\"} 1.5\n\
            broken{x=1} 3\n";
        let s = Samples::parse(text);
        assert_eq!(s.sum("switchyard_gateway_events_total"), 11.0);
        let by = s.sum_by("switchyard_gateway_events_total", "event");
        assert_eq!(by.get("MESSAGE_CREATE"), Some(&10.0));
        assert_eq!(by.get("READY"), Some(&1.0));
        assert_eq!(s.sum("switchyard_resp_clients"), 2.0);
        assert_eq!(
            s.get("odd")[0].labels.get("reason").map(String::as_str),
            Some("a \"quoted\", comma")
        );
        assert!(!s.has("broken") && !s.has("missing"));
    }
}
