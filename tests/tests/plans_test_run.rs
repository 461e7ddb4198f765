//! Plans through BPF_PROG_TEST_RUN: a frame of each plan is coloured with its plan's
//! profile (longest prefix wins; source or destination match; IPv4 and IPv6), `--key all`
//! makes one bucket, a deleted plan's flows start again under the profile that now matches,
//! and refusals change nothing. No timing involved (1 byte/s: no refill worth a byte).

use policer::{Loaded, ProgramKind, maps::Maps, plans};
use policer_common::{MAX_PLANS, Profile, action, counter, key_mode, plan_counter, plan_match};
use policer_tests::frames::Packet;

const KINDS: [ProgramKind; 2] = [ProgramKind::Xdp, ProgramKind::Tc];

/// A plain token bucket (ebs 0) of `cbs` bytes: `cbs / 1500` frames of 1500 bytes pass.
fn bucket(cbs: u64, key: u8) -> Profile {
    Profile::new(1, cbs, 0, key, action::PASS, action::DROP).unwrap()
}

fn load(kind: ProgramKind, default: Profile) -> Loaded {
    Loaded::load(&default, 4096, kind).expect("load the program")
}

fn add(maps: &mut Maps, prefix: &str, profile: Profile) -> u32 {
    plans::add(maps, "test", prefix.parse().unwrap(), &profile).expect("add the plan")
}

/// How many of ten 1500-byte frames pass.
fn passed_of_ten(loaded: &mut Loaded, packet: Packet) -> usize {
    let frame = packet.frame(1500);
    let pass = if loaded.kind() == ProgramKind::Xdp { 2 } else { 0 };
    (0..10).filter(|_| loaded.test_run(&frame, 1).expect("BPF_PROG_TEST_RUN").0 == pass).count()
}

fn from(src: &str) -> Packet {
    let dst = if src.contains(':') { "2001:db8:ffff::1" } else { "198.51.100.200" };
    Packet::tcp(src, dst, 1000, 80)
}

#[test]
fn each_frame_is_coloured_with_its_plans_profile_longest_prefix_first() {
    for kind in KINDS {
        let mut loaded = load(kind, bucket(6000, key_mode::FIVE_TUPLE));
        let wide = add(&mut loaded.maps, "192.0.2.0/24", bucket(3000, key_mode::FIVE_TUPLE));
        let narrow = add(&mut loaded.maps, "192.0.2.8/29", bucket(1500, key_mode::FIVE_TUPLE));
        let host6 = add(&mut loaded.maps, "2001:db8::/32", bucket(4500, key_mode::FIVE_TUPLE));
        assert_eq!(loaded.maps.profile().unwrap().plans, 3);
        assert_eq!(passed_of_ten(&mut loaded, from("192.0.2.9")), 1, "the /29 ({kind:?})");
        assert_eq!(passed_of_ten(&mut loaded, from("192.0.2.1")), 2, "the /24");
        assert_eq!(passed_of_ten(&mut loaded, from("198.51.100.1")), 4, "the default");
        assert_eq!(passed_of_ten(&mut loaded, from("2001:db8::7")), 3, "the IPv6 /32");
        assert_eq!(passed_of_ten(&mut loaded, from("2001:db9::7")), 4, "IPv6, the default");

        let count =
            |maps: &Maps, index, what| maps.plan_counters(index).unwrap()[what as usize].packets;
        for (index, green, red) in [(narrow, 1, 9), (wide, 2, 8), (host6, 3, 7)] {
            assert_eq!(count(&loaded.maps, index, 0), green, "plan {index} green");
            assert_eq!(count(&loaded.maps, index, 2), red, "plan {index} red");
            assert_eq!(count(&loaded.maps, index, plan_counter::DROPPED), red);
        }
        let totals = loaded.maps.counters().unwrap();
        assert_eq!(totals.get(counter::GREEN).packets, 1 + 2 + 4 + 3 + 4);
        // Each flow's key carries its plan: five flows, under four profiles.
        let mut profiles: Vec<u16> =
            loaded.maps.flows().unwrap().iter().map(|f| f.key.profile).collect();
        profiles.sort();
        let mut expected = vec![0, 0, wide as u16, narrow as u16, host6 as u16];
        expected.sort();
        assert_eq!(profiles, expected);
    }
}

#[test]
fn plans_match_the_destination_when_attached_so() {
    for kind in KINDS {
        let default = Profile { plan_match: plan_match::DST, ..bucket(6000, key_mode::FIVE_TUPLE) };
        let mut loaded = load(kind, default);
        add(&mut loaded.maps, "203.0.113.0/24", bucket(1500, key_mode::FIVE_TUPLE));
        let to = |dst: &str| Packet::tcp("192.0.2.1", dst, 1000, 80);
        assert_eq!(passed_of_ten(&mut loaded, to("203.0.113.5")), 1, "to the plan");
        assert_eq!(passed_of_ten(&mut loaded, to("203.0.114.5")), 4, "elsewhere");
        // The source is not looked at.
        assert_eq!(passed_of_ten(&mut loaded, Packet::tcp("203.0.113.5", "1.2.3.4", 1, 2)), 4);
    }
}

#[test]
fn key_all_is_one_bucket_for_everything_the_profile_covers() {
    for kind in KINDS {
        // The default: one bucket for every flow, IPv4 and IPv6.
        let mut loaded = load(kind, bucket(4500, key_mode::ALL));
        let frames = [
            Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2),
            Packet::udp("10.0.0.3", "10.0.0.4", 5, 6),
            Packet::tcp("2001:db8::1", "2001:db8::2", 7, 8),
        ];
        let pass = if kind == ProgramKind::Xdp { 2 } else { 0 };
        let passed = (0..9)
            .filter(|i| loaded.test_run(&frames[i % 3].frame(1500), 1).unwrap().0 == pass)
            .count();
        assert_eq!(passed, 3, "{kind:?}");
        assert_eq!(loaded.maps.flows().unwrap().len(), 1);

        // A plan with `all`: its two senders share its bucket, apart from the default's.
        let mut loaded = load(kind, bucket(6000, key_mode::FIVE_TUPLE));
        add(&mut loaded.maps, "192.0.2.0/24", bucket(3000, key_mode::ALL));
        let a = passed_of_ten(&mut loaded, from("192.0.2.1"));
        let b = passed_of_ten(&mut loaded, from("192.0.2.2"));
        assert_eq!((a, b), (2, 0));
        assert_eq!(passed_of_ten(&mut loaded, from("198.51.100.1")), 4);
    }
}

#[test]
fn a_deleted_plans_addresses_take_the_next_matching_profile_afresh() {
    for kind in KINDS {
        let mut loaded = load(kind, bucket(6000, key_mode::FIVE_TUPLE));
        add(&mut loaded.maps, "192.0.2.0/24", bucket(3000, key_mode::FIVE_TUPLE));
        let host = add(&mut loaded.maps, "192.0.2.9/32", bucket(1500, key_mode::FIVE_TUPLE));
        assert_eq!(passed_of_ten(&mut loaded, from("192.0.2.9")), 1);
        plans::del(&mut loaded.maps, "test", "192.0.2.9/32".parse().unwrap()).unwrap();
        assert!(loaded.maps.flows().unwrap().iter().all(|f| u32::from(f.key.profile) != host));
        assert_eq!(loaded.maps.plan_counters(host).unwrap()[0].packets, 0, "counters zeroed");
        assert_eq!(passed_of_ten(&mut loaded, from("192.0.2.9")), 2, "now the /24's");
        plans::del(&mut loaded.maps, "test", "192.0.2.0/24".parse().unwrap()).unwrap();
        assert_eq!(loaded.maps.profile().unwrap().plans, 0);
        assert_eq!(passed_of_ten(&mut loaded, from("192.0.2.9")), 4, "now the default's");
        // A new plan that takes a freed index starts with no state of the old one.
        let again = add(&mut loaded.maps, "192.0.2.0/24", bucket(3000, key_mode::FIVE_TUPLE));
        assert_eq!(passed_of_ten(&mut loaded, from("192.0.2.9")), 2, "index {again}");
    }
}

#[test]
fn refusals_change_nothing_and_the_1025th_plan_is_refused() {
    let mut loaded = load(ProgramKind::Xdp, bucket(6000, key_mode::FIVE_TUPLE));
    let maps = &mut loaded.maps;
    add(maps, "192.0.2.0/24", bucket(3000, key_mode::FIVE_TUPLE));
    let before = (maps.plan_entries().unwrap(), maps.profile().unwrap());
    let exists = plans::add(maps, "eth9", "192.0.2.0/24".parse().unwrap(), &bucket(1500, 0))
        .unwrap_err()
        .to_string();
    assert!(
        exists.contains("already has a plan for 192.0.2.0/24; use `policer plan set`"),
        "{exists}"
    );
    let missing = plans::del(maps, "eth9", "192.0.3.0/24".parse().unwrap()).unwrap_err();
    assert!(missing.to_string().contains("no plan for 192.0.3.0/24"), "{missing}");
    assert_eq!((maps.plan_entries().unwrap(), maps.profile().unwrap()), before);

    for i in 1..MAX_PLANS {
        let prefix = format!("10.{}.{}.0/24", i / 256, i % 256);
        plans::add(maps, "eth9", prefix.parse().unwrap(), &bucket(1500, 0)).unwrap();
    }
    assert_eq!(maps.plan_entries().unwrap().len(), MAX_PLANS as usize);
    let before = (maps.plan_entries().unwrap(), maps.profile().unwrap());
    let full =
        plans::add(maps, "eth9", "2001:db8::/32".parse().unwrap(), &bucket(1500, 0)).unwrap_err();
    assert!(full.to_string().contains("has 1024 plans already"), "{full}");
    assert_eq!((maps.plan_entries().unwrap(), maps.profile().unwrap()), before);
    assert_eq!(maps.profile().unwrap().plans, 1024);
    // Every one of them is reached: the last one added colours its frames.
    assert_eq!(passed_of_ten(&mut loaded, from("10.3.255.1")), 1);
}
