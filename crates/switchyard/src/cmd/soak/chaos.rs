//! Which fault comes next: the kinds the soak injects, their weights, and a small seeded
//! generator so that a run's schedule can be repeated (`--seed`).

use std::fmt;

/// Close codes the fake sends: every one Discord documents, and 1000 and 1001. Those after
/// which Discord allows no resume (1000, 1001, 4007, 4009, and the fatal ones) end the
/// session, and the gateway must report any gap; the others are resumed. After a fatal code
/// (4004, 4010–4014) a gateway must not reconnect: the shard stops, and the soak restarts
/// its node, as an operator would once the cause is fixed.
pub(super) const CLOSE_CODES: [u16; 16] = [
    1000, 1001, 4000, 4001, 4002, 4003, 4004, 4005, 4007, 4008, 4009, 4010, 4011, 4012, 4013, 4014,
];

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Fault {
    /// op 7 RECONNECT to one session.
    Reconnect,
    /// op 9 INVALID_SESSION to one session.
    InvalidSession { resumable: bool },
    /// A close frame with this code to one session.
    Close(u16),
    /// The TCP connection of one session dropped without a close frame.
    Drop,
    /// The fake stops ACKing one connection's heartbeats.
    LostAcks,
    /// `kill -9` of a gateway node, started again at once.
    KillNode,
    /// `kill -9` of a consumer, started again at once.
    KillConsumer,
    /// `kill -9` of the broker, started again on its port and its files.
    RestartBroker,
}

impl Fault {
    /// Whether Discord allows no resume after it: the session ends, and what the fake had
    /// not sent of it is lost (and must be reported as a gap).
    pub(super) fn ends_session(self) -> bool {
        match self {
            Fault::InvalidSession { resumable } => !resumable,
            Fault::Close(code) => matches!(code, 1000 | 1001 | 4007 | 4009) || self.fatal(),
            _ => false,
        }
    }

    /// Whether the shard must stop after it (no reconnect).
    pub(super) fn fatal(self) -> bool {
        matches!(self, Fault::Close(4004 | 4010..=4014))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Reconnect => f.write_str("RECONNECT"),
            Fault::InvalidSession { resumable: true } => f.write_str("INVALID_SESSION(resumable)"),
            Fault::InvalidSession { resumable: false } => f.write_str("INVALID_SESSION(new)"),
            Fault::Close(code) => write!(f, "close {code}"),
            Fault::Drop => f.write_str("TCP drop"),
            Fault::LostAcks => f.write_str("lost heartbeat ACKs"),
            Fault::KillNode => f.write_str("kill -9 gateway node"),
            Fault::KillConsumer => f.write_str("kill -9 consumer"),
            Fault::RestartBroker => f.write_str("broker killed and restarted"),
        }
    }
}

/// xorshift64*: enough for a fault schedule, and the same from the same seed everywhere.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        // splitmix64 spreads every seed (neighbours too) over the state; zero would stay zero
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)).max(1))
    }

    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// The wait before the next fault: 0.5 to 1.5 times `every_ms`.
    pub(super) fn wait_ms(&mut self, every_ms: u64) -> u64 {
        every_ms / 2 + self.below(every_ms.max(1))
    }

    /// The next fault. Session faults are the most common (Discord sends them all day);
    /// process kills and broker restarts come about one time in nine each.
    pub(super) fn fault(&mut self) -> Fault {
        match self.below(100) {
            0..10 => Fault::Reconnect,
            10..17 => Fault::InvalidSession { resumable: true },
            17..24 => Fault::InvalidSession { resumable: false },
            24..44 => Fault::Close(CLOSE_CODES[self.below(CLOSE_CODES.len() as u64) as usize]),
            44..54 => Fault::Drop,
            54..66 => Fault::LostAcks,
            66..78 => Fault::KillNode,
            78..90 => Fault::KillConsumer,
            _ => Fault::RestartBroker,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_seed_gives_the_same_schedule_and_every_kind_comes() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let faults: Vec<Fault> = (0..2000).map(|_| a.fault()).collect();
        assert_eq!(faults, (0..2000).map(|_| b.fault()).collect::<Vec<_>>());
        let kinds: BTreeSet<String> = faults.iter().map(ToString::to_string).collect();
        // 5 session kinds besides the close codes, 3 process kinds, every close code
        assert_eq!(kinds.len(), 5 + 3 + CLOSE_CODES.len(), "{kinds:?}");
        let mut other = Rng::new(6);
        assert_ne!(
            faults[..20],
            (0..20).map(|_| other.fault()).collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn which_faults_end_a_session() {
        assert!(Fault::InvalidSession { resumable: false }.ends_session());
        assert!(!Fault::InvalidSession { resumable: true }.ends_session());
        for code in [1000, 1001, 4007, 4009] {
            assert!(Fault::Close(code).ends_session(), "{code}");
            assert!(!Fault::Close(code).fatal(), "{code}");
        }
        for code in [4004, 4010, 4011, 4012, 4013, 4014] {
            assert!(Fault::Close(code).ends_session() && Fault::Close(code).fatal());
        }
        for code in [4000, 4001, 4002, 4003, 4005, 4008] {
            assert!(!Fault::Close(code).ends_session(), "{code}");
        }
        assert!(!Fault::KillNode.ends_session() && !Fault::LostAcks.ends_session());
    }

    #[test]
    fn waits_stay_within_half_and_one_and_a_half_times() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            let w = rng.wait_ms(3000);
            assert!((1500..4500).contains(&w), "{w}");
        }
    }
}
