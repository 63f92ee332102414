//! Redis's glob matching (`stringmatchlen`), used by the RESP listener's PSUBSCRIBE and
//! `PUBSUB CHANNELS`: `*`, `?`, `[...]` with ranges and `^` negation, `\` escapes, over bytes.

/// Whether `string` matches the Redis glob `pattern` (case-sensitive).
///
/// As in Redis, an empty string matches only the empty pattern (`*` does not match it), and an
/// unterminated `[` class runs to the end of the pattern. Iterative, so that a long pattern
/// from the network cannot exhaust the stack (Redis's own version recurses on `*`).
pub fn glob_match(pattern: &[u8], string: &[u8]) -> bool {
    if string.is_empty() {
        return pattern.is_empty();
    }
    let mut p = 0;
    let mut s = 0;
    // Where to resume after the last `*`: (pattern index after it, string index it matched to).
    let mut star: Option<(usize, usize)> = None;
    while s < string.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, s));
                    continue;
                }
                b'?' => {
                    p += 1;
                    s += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(pattern, p, string[s])
                        && matched
                    {
                        p = next;
                        s += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if pattern[p + 1] == string[s] {
                        p += 2;
                        s += 1;
                        continue;
                    }
                }
                c => {
                    if c == string[s] {
                        p += 1;
                        s += 1;
                        continue;
                    }
                }
            }
        }
        // Mismatch: backtrack to the last star, letting it swallow one more byte.
        match star {
            Some((sp, ss)) => {
                p = sp;
                s = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pattern[start] == b'['`. Returns whether it
/// matched and the index after the class. An unterminated class runs to the end of the
/// pattern, as in Redis.
fn class(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut p = start + 1;
    let not = pattern.get(p) == Some(&b'^');
    if not {
        p += 1;
    }
    let mut matched = false;
    loop {
        match pattern.get(p) {
            None => {
                // Redis treats an unterminated class as ending at the pattern's end.
                p = pattern.len();
                break;
            }
            Some(b']') => {
                p += 1;
                break;
            }
            Some(b'\\') if p + 1 < pattern.len() => {
                if pattern[p + 1] == c {
                    matched = true;
                }
                p += 2;
            }
            Some(&lo) if pattern.get(p + 1) == Some(&b'-') && p + 2 < pattern.len() => {
                let hi = pattern[p + 2];
                let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
                if (lo..=hi).contains(&c) {
                    matched = true;
                }
                p += 3;
            }
            Some(&lit) => {
                if lit == c {
                    matched = true;
                }
                p += 1;
            }
        }
    }
    Some((matched != not, p))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn redis_glob_cases() {
        let yes: &[(&str, &str)] = &[
            ("*", "anything.at.all"),
            ("", ""),
            ("[^", "x"),
            ("inbound.*", "inbound.discord.1.2.3"),
            ("h?llo", "hello"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("h[b-a]llo", "hallo"),
            ("h\\*llo", "h*llo"),
            ("a*b*c", "axxbyyc"),
            ("[\\]]", "]"),
        ];
        let no: &[(&str, &str)] = &[
            ("h?llo", "hllo"),
            ("h[^e]llo", "hello"),
            ("h\\*llo", "hello"),
            ("a*b*c", "axxbyy"),
            ("inbound.*", "outbound.x"),
            ("", "x"),
            ("*", ""),
            ("[", "["),
            ("a[", "a["),
        ];
        for (p, s) in yes {
            assert!(
                glob_match(p.as_bytes(), s.as_bytes()),
                "{p} should match {s}"
            );
        }
        for (p, s) in no {
            assert!(
                !glob_match(p.as_bytes(), s.as_bytes()),
                "{p} should not match {s}"
            );
        }
    }
}
