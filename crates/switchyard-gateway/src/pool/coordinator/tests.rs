use super::*;

const LEASE: Duration = Duration::from_secs(1);

fn hello(node: &str, held: &[u32], guilds: BTreeMap<u32, u32>) -> ShardConnect {
    ShardConnect {
        bot: "bot".into(),
        node: node.into(),
        shards: held.to_vec(),
        admin: None,
        guilds,
        draining: false,
        beat: 1,
    }
}

fn beat(c: &mut Coordinator, node: &str, held: &[u32], at: Instant) {
    c.heard(&hello(node, held, BTreeMap::new()), at);
}

#[test]
fn waits_to_settle_then_splits_free_shards_evenly() {
    let t0 = Instant::now();
    let mut c = Coordinator::new(5, LEASE, 1, t0);
    beat(&mut c, "a", &[], t0);
    beat(&mut c, "b", &[], t0);
    let plan = c.assign(t0 + Duration::from_millis(10));
    assert!(
        plan.values().all(Vec::is_empty),
        "nothing before settling: {plan:?}"
    );
    let plan = c.assign(t0 + LEASE);
    assert_eq!(plan["a"].len() + plan["b"].len(), 5);
    assert!(plan["a"].len().abs_diff(plan["b"].len()) <= 1, "{plan:?}");
    let a: BTreeSet<u32> = plan["a"].iter().copied().collect();
    assert!(plan["b"].iter().all(|s| !a.contains(s)), "disjoint");
}

#[test]
fn adopts_what_nodes_hold_and_refuses_double_claims() {
    let t0 = Instant::now();
    let mut c = Coordinator::new(4, LEASE, 1, t0);
    beat(&mut c, "a", &[0, 1, 2], t0);
    beat(&mut c, "b", &[2, 3], t0);
    let plan = c.assign(t0);
    assert_eq!(plan["a"], [0, 1, 2]);
    assert_eq!(plan["b"], [3], "b is told to drop shard 2");
}

#[test]
fn a_silent_node_s_shards_go_to_the_others() {
    let t0 = Instant::now();
    let mut c = Coordinator::new(4, LEASE, 1, t0);
    beat(&mut c, "a", &[0, 1], t0);
    beat(&mut c, "b", &[2, 3], t0);
    let later = t0 + LEASE + Duration::from_millis(500);
    beat(&mut c, "b", &[2, 3], later);
    let plan = c.assign(later);
    assert_eq!(plan.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(plan["b"], [0, 1, 2, 3]);
}

#[test]
fn a_node_that_leaves_is_forgotten_and_one_that_hands_back_stays() {
    let t0 = Instant::now();
    let mut c = Coordinator::new(2, LEASE, 1, t0);
    beat(&mut c, "a", &[0], t0);
    beat(&mut c, "b", &[1], t0);
    c.released("a", &[0], true, t0);
    assert_eq!(c.nodes().len(), 1);
    let plan = c.assign(t0 + LEASE);
    assert_eq!(plan["b"], [0, 1]);
    c.released("b", &[0], false, t0);
    assert_eq!(c.nodes().len(), 1, "b only handed a shard back");
}

#[test]
fn every_grant_has_a_higher_epoch_even_under_a_later_coordinator() {
    let t0 = Instant::now();
    let mut c = Coordinator::new(2, LEASE, 7, t0);
    beat(&mut c, "a", &[0, 1], t0);
    let first = c.epochs_of(&[0, 1]);
    c.move_shard(0, "a", t0 + LEASE).unwrap_err();
    beat(&mut c, "b", &[], t0 + LEASE);
    c.move_shard(0, "b", t0 + LEASE).expect("move");
    assert_eq!(c.released("a", &[0], false, t0), ["b"]);
    let moved = c.epochs_of(&[0]);
    assert!(moved[&0] > first[&0] && moved[&0] > first[&1]);
    // A later term's coordinator adopts what the nodes hold with higher epochs still.
    let mut next = Coordinator::new(2, LEASE, 8, t0);
    beat(&mut next, "b", &[0], t0);
    assert!(next.epochs_of(&[0])[&0] > moved[&0]);
}

#[test]
fn a_moving_shard_runs_nowhere_until_released_then_on_the_target() {
    let t0 = Instant::now();
    let settled = t0 + LEASE;
    let mut c = Coordinator::new(2, LEASE, 1, t0);
    beat(&mut c, "a", &[0, 1], t0);
    beat(&mut c, "b", &[], t0);
    assert_eq!(c.move_shard(1, "b", t0), Err(MoveRefusal::Settling));
    c.move_shard(1, "b", settled).expect("move");
    let plan = c.assign(settled);
    assert_eq!(
        (plan["a"].as_slice(), plan["b"].as_slice()),
        (&[0][..], &[][..])
    );
    // a still says it holds 1 (its beat raced the accept): nothing changes
    beat(&mut c, "a", &[0, 1], settled);
    assert_eq!(c.assign(settled)["b"], Vec::<u32>::new());
    assert_eq!(
        c.move_shard(1, "a", settled),
        Err(MoveRefusal::AlreadyMoving {
            shard: 1,
            from: "a".into(),
            to: "b".into()
        })
    );
    assert_eq!(c.released("a", &[1], false, t0), ["b"]);
    let plan = c.assign(settled);
    assert_eq!(
        (plan["a"].as_slice(), plan["b"].as_slice()),
        (&[0][..], &[1][..])
    );
}

#[test]
fn bad_moves_are_refused_with_a_reason() {
    let t0 = Instant::now();
    let settled = t0 + LEASE;
    let mut c = Coordinator::new(2, LEASE, 1, t0);
    beat(&mut c, "a", &[0, 1], t0);
    assert!(matches!(
        c.move_shard(5, "a", settled),
        Err(MoveRefusal::NoSuchShard { shard: 5, total: 2 })
    ));
    assert_eq!(
        c.move_shard(0, "ghost", settled),
        Err(MoveRefusal::UnknownNode("ghost".into()))
    );
    assert!(matches!(
        c.move_shard(0, "a", settled),
        Err(MoveRefusal::AlreadyThere { .. })
    ));
    assert_eq!(c.drain("a", true), Err(MoveRefusal::LastNode("a".into())));
    assert_eq!(
        c.drain("ghost", false),
        Err(MoveRefusal::UnknownNode("ghost".into()))
    );
}

#[test]
fn a_move_whose_target_dies_is_called_off_and_the_shard_stays() {
    let t0 = Instant::now();
    let settled = t0 + LEASE;
    let mut c = Coordinator::new(1, LEASE, 1, t0);
    beat(&mut c, "a", &[0], settled);
    beat(&mut c, "b", &[], t0);
    c.move_shard(0, "b", settled).expect("move");
    let later = settled + Duration::from_millis(100);
    beat(&mut c, "a", &[0], later);
    // b's last beat was at t0: it is dead a lease later
    let plan = c.assign(t0 + LEASE + Duration::from_millis(200));
    assert!(c.moves().is_empty());
    assert_eq!(plan["a"], [0]);
}

#[test]
fn a_move_never_released_is_called_off() {
    let t0 = Instant::now();
    let settled = t0 + LEASE;
    let mut c = Coordinator::new(1, LEASE, 1, t0);
    beat(&mut c, "a", &[0], t0);
    beat(&mut c, "b", &[], t0);
    c.move_shard(0, "b", settled).expect("move");
    let late = settled + LEASE * MOVE_LEASES;
    beat(&mut c, "a", &[0], late);
    beat(&mut c, "b", &[], late);
    let plan = c.assign(late);
    assert!(c.moves().is_empty());
    assert_eq!(plan["a"], [0], "the shard stays where it ran");
}

#[test]
fn a_drained_node_s_shards_go_to_the_others_a_few_at_a_time() {
    let t0 = Instant::now();
    let settled = t0 + LEASE;
    let mut c = Coordinator::new(8, LEASE, 1, t0);
    beat(&mut c, "a", &[0, 1, 2, 3, 4, 5, 6, 7], t0);
    beat(&mut c, "b", &[], t0);
    beat(&mut c, "c", &[], t0);
    c.drain("a", true).expect("drain");
    c.assign(settled);
    assert_eq!(c.moves().len(), MAX_MOVES, "never all at once");
    while !c.moves().is_empty() {
        let moving: Vec<u32> = c.moves().keys().copied().collect();
        c.released("a", &moving, false, t0);
        c.assign(settled);
    }
    let plan = c.assign(settled);
    assert!(plan["a"].is_empty());
    assert_eq!(plan["b"].len(), 4);
    assert_eq!(plan["c"].len(), 4);
    assert!(c.draining("a"));
    // a drained node gets nothing, even when free shards come up
    c.released("b", &plan["b"], true, t0);
    let plan = c.assign(settled);
    assert!(plan["a"].is_empty());
    assert_eq!(plan["c"].len(), 8);
}

#[test]
fn a_joining_node_gets_shards_weighed_by_guilds() {
    let t0 = Instant::now();
    let settled = t0 + LEASE;
    let mut c = Coordinator::new(4, LEASE, 1, t0);
    let guilds = BTreeMap::from([(0, 100), (1, 10), (2, 10), (3, 10)]);
    c.heard(&hello("a", &[0, 1, 2, 3], guilds), t0);
    beat(&mut c, "b", &[], t0);
    for _ in 0..4 {
        c.assign(settled);
        let moving: Vec<u32> = c.moves().keys().copied().collect();
        c.released("a", &moving, false, t0);
    }
    let plan = c.assign(settled);
    // 100 against 30 in one move (the big shard), not three
    assert_eq!(plan["a"], [1, 2, 3]);
    assert_eq!(plan["b"], [0]);
    assert!(c.moves().is_empty(), "balanced: no more moves");
}

#[test]
fn an_even_pool_is_left_alone() {
    let t0 = Instant::now();
    let settled = t0 + LEASE;
    let mut c = Coordinator::new(5, LEASE, 1, t0);
    beat(&mut c, "a", &[0, 1, 2], t0);
    beat(&mut c, "b", &[3, 4], t0);
    c.assign(settled);
    assert!(c.moves().is_empty());
}

#[test]
fn a_shard_still_starting_is_not_moved_and_a_wave_never_swaps() {
    let t0 = Instant::now();
    let settled = t0 + LEASE;
    let mut c = Coordinator::new(4, LEASE, 1, t0);
    beat(&mut c, "a", &[], t0);
    beat(&mut c, "b", &[], t0);
    let plan = c.assign(settled);
    let a0 = plan["a"][0];
    assert_eq!(
        c.move_shard(a0, "b", settled),
        Err(MoveRefusal::Starting(a0)),
        "granted, not yet running"
    );
    // Both now run their shards, and the guilds come in uneven.
    let weights = |held: &[u32], w: u32| held.iter().map(|s| (*s, w)).collect();
    let later = settled + LEASE;
    c.heard(&hello("a", &plan["a"], weights(&plan["a"], 10)), later);
    c.heard(&hello("b", &plan["b"], weights(&plan["b"], 1)), later);
    c.assign(later);
    let moves: Vec<&Move> = c.moves().values().collect();
    assert!(!moves.is_empty(), "20 against 2 is worth a move");
    assert!(
        moves.iter().all(|m| m.from == "a" && m.to == "b"),
        "one way only: {moves:?}"
    );
}

#[test]
fn an_operator_s_move_stays_put_and_asking_twice_is_fine() {
    let t0 = Instant::now();
    let settled = t0 + LEASE;
    let mut c = Coordinator::new(2, LEASE, 1, t0);
    beat(&mut c, "a", &[0, 1], t0);
    beat(&mut c, "b", &[], t0);
    c.move_shard(0, "b", settled).expect("move");
    c.move_shard(0, "b", settled)
        .expect("already on its way there: fine");
    c.released("a", &[0], false, settled);
    // a holds shard 1, b shard 0; now move 1 to b as well: uneven, but put there by hand
    let later = settled + LEASE;
    beat(&mut c, "b", &[0], later);
    c.move_shard(1, "b", later).expect("move");
    c.released("a", &[1], false, later);
    let much_later = later + LEASE * 2;
    beat(&mut c, "a", &[], much_later);
    beat(&mut c, "b", &[0, 1], much_later);
    c.assign(much_later);
    assert!(
        c.moves().is_empty(),
        "balancing leaves them: {:?}",
        c.moves()
    );
}

#[test]
fn a_drain_holds_against_a_beat_sent_before_the_node_heard_of_it() {
    let t0 = Instant::now();
    let settled = t0 + LEASE;
    let mut c = Coordinator::new(2, LEASE, 1, t0);
    beat(&mut c, "a", &[0], t0);
    beat(&mut c, "b", &[1], t0);
    c.drain("b", true).expect("drain");
    // b's beat, sent before its ACCEPT said it is drained
    beat(&mut c, "b", &[1], settled);
    assert!(c.draining("b"), "still drained");
    // and the same for an undrain against a beat that still says drained
    c.drain("b", false).expect("undrain");
    let mut hello = super::ShardConnect {
        bot: "bot".into(),
        node: "b".into(),
        shards: vec![],
        admin: None,
        guilds: BTreeMap::new(),
        draining: true,
        beat: 2,
    };
    c.heard(&hello, settled);
    assert!(!c.draining("b"), "still undrained");
    // a new coordinator learns the drain from the beats while it settles
    let mut next = Coordinator::new(2, LEASE, 2, settled);
    hello.beat = 3;
    next.heard(&hello, settled);
    assert!(next.draining("b"));
}
