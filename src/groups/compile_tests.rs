//! Tests of the compiled security-group tables.
use super::*;

/// The rule indexes of an interval's candidates.
fn ids(p: &ProtoRules, port: u16) -> Vec<u32> {
    p.candidates(port).map_or(Vec::new(), |l| l.rules.clone())
}

fn cand(rule: u32) -> Cand {
    Cand {
        mask: 0,
        net: 0,
        rule,
    }
}

#[test]
fn port_intervals_keep_evaluation_order() {
    // Rule 0: 80/80, rule 1: all ports, rule 2: 1/1024.
    let p = intervals(
        &[(0, Some((80, 80))), (1, None), (2, Some((1, 1024)))],
        cand,
    );
    assert_eq!(ids(&p, 0), [1]);
    assert_eq!(ids(&p, 1), [1, 2]);
    assert_eq!(ids(&p, 79), [1, 2]);
    assert_eq!(ids(&p, 80), [0, 1, 2]);
    assert_eq!(ids(&p, 81), [1, 2]);
    assert_eq!(ids(&p, 1024), [1, 2]);
    assert_eq!(ids(&p, 1025), [1]);
    assert_eq!(ids(&p, 65535), [1]);
    let top = intervals(&[(7, Some((65535, 65535)))], cand);
    assert_eq!(ids(&top, 65535), [7]);
    assert!(ids(&top, 65534).is_empty());
    assert!(ids(&intervals(&[], cand), 80).is_empty());
}

/// A candidate's inline peer matches as the rule's own peer does: CIDR peers by mask, group
/// peers never by mask (the check asks the rule).
#[test]
fn candidates_carry_their_rules_peer() {
    let rule = |peer| CRule {
        policy: Policy::Accept,
        peer,
        group: 0,
        position: 1,
        text: RuleText {
            policy: "accept",
            priority: 1,
            protocol: "all",
            port_range: "-1/-1".into(),
            cidr: None,
            group: None,
        },
    };
    let c = Cand::of(
        3,
        &rule(CPeer::Cidr {
            net: 0x0a00_0000,
            mask: 0xff00_0000,
        }),
    );
    assert_eq!((c.rule, 0x0a01_0203 & c.mask == c.net), (3, true));
    assert!(0x0b00_0000 & c.mask != c.net);
    let any = Cand::of(4, &rule(CPeer::Cidr { net: 0, mask: 0 }));
    assert!(0xc633_6401 & any.mask == any.net);
    let g = Cand::of(5, &rule(CPeer::Group(2)));
    assert_eq!((g.mask, g.net), (0, GROUP_NET));
    assert!(g.asks_rule() && !c.asks_rule() && !any.asks_rule());
    assert!((0..=u32::from(u16::MAX)).all(|a| a & g.mask != g.net));
}

/// The first CIDR match, 16 candidates at a time, is the first one a plain walk finds, in
/// every lane and in the tail, and none when no candidate matches.
#[test]
fn first_cidr_finds_the_first_match() {
    let peer = 0xc633_6401; // 198.51.100.1
    for len in [0, 1, 15, 16, 17, 32, 33, 50] {
        for at in 0..=len {
            // Candidates 0..len: only `at` (when < len) and every later third match.
            let cands: Vec<Cand> = (0..len as u32)
                .map(|i| {
                    let hit = i as usize == at || (i as usize > at && i % 3 == 0);
                    Cand {
                        mask: 0xffff_ff00,
                        net: if hit {
                            0xc633_6400
                        } else {
                            0x0a00_0000 | i << 8
                        },
                        rule: i,
                    }
                })
                .collect();
            let l = List::new(&cands);
            assert_eq!(l.masks.len() % LANES, 0);
            assert_eq!(l.rules.len(), len);
            let plain = cands.iter().position(|c| peer & c.mask == c.net);
            assert_eq!(l.first_cidr(peer), plain, "len {len}, at {at}");
            // The padding matches no address.
            assert_eq!(l.first_cidr(0), cands.iter().position(|c| c.net == 0));
            assert_eq!(plain, (at < len).then_some(at));
        }
    }
    // A group peer's candidate never matches by CIDR, and makes the list ask its rules.
    let g = Cand {
        mask: 0,
        net: GROUP_NET,
        rule: 0,
    };
    let l = List::new(&[g; 9]);
    assert!(l.asks);
    assert_eq!(l.first_cidr(peer), None);
}
