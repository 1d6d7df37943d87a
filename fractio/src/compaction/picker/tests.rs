//! Picker tests on table-shaped fixtures: no files, no threads. Each test
//! builds a version's shape by hand and checks the pick, or (the
//! simulation) runs many flush/pick/apply rounds and checks the level
//! invariants after each.

use super::*;
use rand::{Rng, SeedableRng};

const MIB: u64 = 1 << 20;

fn options() -> PickerOptions {
    PickerOptions {
        l0_trigger: 4,
        l1_size: 10 * MIB,
        multiplier: 10,
    }
}

/// A table `id` over `[smallest, largest]` of `mib` MiB.
fn t(id: u64, smallest: &str, largest: &str, mib: u64) -> TableMeta {
    TableMeta {
        id,
        file_size: mib * MIB,
        smallest_key: smallest.as_bytes().to_vec(),
        largest_key: largest.as_bytes().to_vec(),
        smallest_seq: id,
        largest_seq: id,
        entries: 1,
        tombstones: 0,
    }
}

/// A shape with the given levels filled in (the rest empty).
fn shape(filled: Vec<(usize, Vec<TableMeta>)>) -> Vec<Vec<TableMeta>> {
    let mut levels = vec![Vec::new(); LEVELS];
    for (level, tables) in filled {
        levels[level] = tables;
    }
    levels
}

fn view(levels: &[Vec<TableMeta>]) -> Vec<&[TableMeta]> {
    levels.iter().map(Vec::as_slice).collect()
}

fn busy(ids: &[u64]) -> HashSet<u64> {
    ids.iter().copied().collect()
}

fn no_cursors() -> Vec<Vec<u8>> {
    vec![Vec::new(); LEVELS]
}

fn pick_now(levels: &[Vec<TableMeta>], busy_ids: &[u64]) -> Option<Compaction> {
    pick(&view(levels), &options(), &busy(busy_ids), &no_cursors())
}

#[test]
fn targets_grow_by_the_multiplier() {
    let o = options();
    assert_eq!(o.target_bytes(1), 10 * MIB);
    assert_eq!(o.target_bytes(2), 100 * MIB);
    assert_eq!(o.target_bytes(6), 10 * MIB * 100_000);
}

#[test]
fn nothing_is_picked_below_every_trigger() {
    let levels = shape(vec![
        (
            0,
            vec![t(10, "a", "z", 1), t(9, "a", "z", 1), t(8, "a", "z", 1)],
        ),
        (1, vec![t(1, "a", "m", 4), t(2, "n", "z", 5)]),
    ]);
    assert_eq!(pick_now(&levels, &[]), None);
    let scores = scores(&view(&levels), &options(), &HashSet::new());
    assert_eq!(scores.len(), LAST_LEVEL);
    assert_eq!(scores[0], (0, 0.75));
    assert_eq!(scores[1], (1, 0.9));
}

#[test]
fn l0_takes_every_l0_table_and_the_l1_tables_they_overlap() {
    let levels = shape(vec![
        (
            0,
            vec![
                t(13, "c", "d", 1),
                t(12, "a", "b", 1),
                t(11, "f", "g", 1),
                t(10, "c", "e", 1),
            ],
        ),
        (
            1,
            vec![t(1, "a", "a", 1), t(2, "b", "c", 1), t(3, "h", "z", 1)],
        ),
    ]);
    let pick = pick_now(&levels, &[]).unwrap();
    assert_eq!(pick.level, 0);
    assert_eq!(pick.output_level, 1);
    assert_eq!(pick.inputs, vec![13, 12, 11, 10]);
    assert_eq!(pick.overlapping, vec![1, 2]);
    assert!(!pick.trivial_move);
    let consumed: Vec<_> = pick.consumed().collect();
    assert_eq!(
        consumed,
        vec![(0, 13), (0, 12), (0, 11), (0, 10), (1, 1), (1, 2)]
    );
}

#[test]
fn l0_waits_while_any_l0_table_or_an_overlapped_l1_table_is_busy() {
    let l0 = vec![
        t(13, "a", "c", 1),
        t(12, "a", "c", 1),
        t(11, "a", "c", 1),
        t(10, "a", "c", 1),
    ];
    let levels = shape(vec![
        (0, l0),
        (1, vec![t(1, "b", "b", 1), t(2, "x", "z", 1)]),
    ]);
    // A newer L0 table left out while older ones go down would put an
    // older version above a newer one: all or nothing.
    assert_eq!(pick_now(&levels, &[11]), None);
    assert_eq!(pick_now(&levels, &[1]), None);
    // A busy L1 table outside the L0 range does not matter.
    assert_eq!(pick_now(&levels, &[2]).unwrap().overlapping, vec![1]);
}

#[test]
fn trivial_move_only_when_nothing_overlaps() {
    let disjoint = vec![
        t(13, "a", "b", 1),
        t(12, "c", "d", 1),
        t(11, "e", "f", 1),
        t(10, "g", "h", 1),
    ];
    let levels = shape(vec![(0, disjoint.clone()), (1, vec![t(1, "x", "z", 1)])]);
    let pick = pick_now(&levels, &[]).unwrap();
    assert!(pick.trivial_move);
    assert!(pick.overlapping.is_empty());

    let mut touching = disjoint;
    touching[0].largest_key = b"c".to_vec(); // meets table 12 at "c"
    let levels = shape(vec![(0, touching), (1, vec![t(1, "x", "z", 1)])]);
    assert!(!pick_now(&levels, &[]).unwrap().trivial_move);

    let levels = shape(vec![
        (1, vec![t(1, "a", "c", 6), t(2, "d", "f", 6)]),
        (2, vec![t(3, "e", "e", 1)]),
    ]);
    let pick = pick_now(&levels, &[]).unwrap();
    assert_eq!((pick.level, pick.inputs.clone()), (1, vec![1]));
    assert!(pick.trivial_move);
}

#[test]
fn the_highest_score_wins() {
    let levels = shape(vec![
        (0, (10..14).map(|id| t(id, "a", "z", 1)).collect()), // score 1
        (1, vec![t(1, "a", "m", 15), t(2, "n", "z", 15)]),    // score 3
        (2, vec![t(3, "a", "z", 150)]),                       // score 1.5
    ]);
    let pick = pick_now(&levels, &[]).unwrap();
    assert_eq!(pick.level, 1);
    assert_eq!(pick.overlapping, vec![3]);
    // With L1's tables busy, the next best level that can go is chosen.
    let pick = pick_now(&levels, &[1, 2]).unwrap();
    assert_eq!(pick.level, 2);
    assert_eq!(pick.output_level, 3);
}

#[test]
fn busy_bytes_do_not_count_towards_a_score() {
    let levels = shape(vec![(1, vec![t(1, "a", "m", 8), t(2, "n", "z", 8)])]);
    assert_eq!(pick_now(&levels, &[]).unwrap().inputs, vec![1]);
    // 8 MiB left idle is under the 10 MiB target.
    assert_eq!(pick_now(&levels, &[1]), None);
}

#[test]
fn a_level_is_walked_round_robin() {
    let levels = shape(vec![(
        1,
        vec![t(1, "a", "b", 5), t(2, "c", "d", 5), t(3, "e", "f", 5)],
    )]);
    let mut cursors = no_cursors();
    let mut picked = Vec::new();
    for _ in 0..4 {
        let pick = pick(&view(&levels), &options(), &HashSet::new(), &cursors).unwrap();
        picked.push(pick.inputs[0]);
        cursors[1] = pick.cursor;
    }
    assert_eq!(picked, vec![1, 2, 3, 1]);
}

#[test]
fn busy_tables_and_busy_overlaps_are_skipped() {
    let levels = shape(vec![
        (
            1,
            vec![t(1, "a", "b", 5), t(2, "c", "d", 5), t(3, "e", "f", 5)],
        ),
        (2, vec![t(4, "d", "d", 1)]),
    ]);
    // 1 busy; 2 overlaps busy 4: 3 is the one that can go.
    let pick = pick_now(&levels, &[1, 4]).unwrap();
    assert_eq!(pick.inputs, vec![3]);
    assert!(pick.trivial_move);
    assert_eq!(pick_now(&levels, &[1, 4, 3]), None);
}

#[test]
fn the_last_level_is_never_an_input() {
    let huge = shape(vec![(LAST_LEVEL, vec![t(1, "a", "z", 1 << 40)])]);
    assert_eq!(pick_now(&huge, &[]), None);
    let target = options().target_bytes(LAST_LEVEL - 1) / MIB;
    let full = shape(vec![(LAST_LEVEL - 1, vec![t(1, "a", "z", target + 1)])]);
    let pick = pick_now(&full, &[]).unwrap();
    assert_eq!(
        (pick.level, pick.output_level),
        (LAST_LEVEL - 1, LAST_LEVEL)
    );
}

#[test]
fn overlapping_is_inclusive_at_both_ends() {
    let level = vec![t(1, "b", "c", 1), t(2, "e", "f", 1), t(3, "h", "i", 1)];
    assert_eq!(overlapping(&level, b"c", b"e"), vec![1, 2]);
    assert_eq!(overlapping(&level, b"d", b"d"), Vec::<u64>::new());
    assert_eq!(overlapping(&level, b"a", b"z"), vec![1, 2, 3]);
    assert_eq!(overlapping(&level, b"i", b"z"), vec![3]);
    assert_eq!(overlapping(&level, b"j", b"z"), Vec::<u64>::new());
    assert_eq!(overlapping::<TableMeta>(&[], b"a", b"z"), Vec::<u64>::new());
}

#[test]
fn manual_takes_a_whole_level_and_rewrites_bottom_garbage() {
    let mut with_tombstones = t(5, "p", "q", 1);
    with_tombstones.tombstones = 3;
    let levels = shape(vec![
        (1, vec![t(1, "b", "c", 1), t(2, "e", "f", 1)]),
        (
            2,
            vec![t(3, "a", "a", 1), t(4, "d", "d", 1), with_tombstones],
        ),
    ]);
    let view = view(&levels);
    let pick = manual(&view, 1, &HashSet::new()).unwrap();
    assert_eq!(pick.inputs, vec![1, 2]);
    assert_eq!(pick.overlapping, vec![4]); // inside [b, f]
    assert!(!pick.trivial_move);
    assert_eq!(manual(&view, 1, &busy(&[4])), None);
    assert_eq!(manual(&view, 0, &HashSet::new()), None);
    assert_eq!(deepest_nonempty(&view), Some(2));

    let none = HashSet::new();
    let rewrite = garbage_rewrite(&view, 2, &none, &none).unwrap();
    assert_eq!((rewrite.level, rewrite.output_level), (2, 2));
    assert_eq!(rewrite.inputs, vec![5]);
    assert_eq!(garbage_rewrite(&view, 2, &busy(&[5]), &none), None);
    // Tables written while a snapshot lived may hide old versions. The
    // rewrite takes the contiguous run between them (table 4 included), so
    // its output cannot overlap a table left in the level (found by the
    // model test).
    let rewrite = garbage_rewrite(&view, 2, &none, &busy(&[3])).unwrap();
    assert_eq!(rewrite.inputs, vec![3, 4, 5]);
    let empty = shape(vec![]);
    assert_eq!(deepest_nonempty(&self::view(&empty)), None);
}

/// Keys of the simulation: 8-byte big-endian numbers.
fn key(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

fn check_levels(levels: &[Vec<TableMeta>]) {
    for (level, tables) in levels.iter().enumerate().skip(1) {
        for pair in tables.windows(2) {
            assert!(
                pair[0].largest_key < pair[1].smallest_key,
                "L{level} tables {} and {} overlap",
                pair[0].id,
                pair[1].id
            );
        }
    }
}

/// Applies `pick` to the fixture, replacing what it consumed by tables
/// spanning the same keys (split into 4 MiB pieces).
fn apply(levels: &mut [Vec<TableMeta>], pick: &Compaction, next_id: &mut u64) {
    let consumed: HashSet<u64> = pick.consumed().map(|(_, id)| id).collect();
    let taken: Vec<TableMeta> = levels
        .iter()
        .flatten()
        .filter(|t| consumed.contains(&t.id))
        .cloned()
        .collect();
    assert_eq!(taken.len(), consumed.len(), "every consumed table exists");
    for tables in levels.iter_mut() {
        tables.retain(|t| !consumed.contains(&t.id));
    }
    if pick.trivial_move {
        levels[pick.output_level].extend(taken);
    } else {
        let lo = taken.iter().map(|t| t.smallest_key.clone()).min().unwrap();
        let hi = taken.iter().map(|t| t.largest_key.clone()).max().unwrap();
        let (lo, hi) = (
            u64::from_be_bytes(lo.try_into().unwrap()),
            u64::from_be_bytes(hi.try_into().unwrap()),
        );
        let bytes: u64 = taken.iter().map(|t| t.file_size).sum();
        let pieces = (bytes / (4 * MIB)).clamp(1, hi - lo + 1);
        let step = (hi - lo + 1) / pieces;
        for i in 0..pieces {
            let start = lo + i * step;
            let end = if i + 1 == pieces {
                hi
            } else {
                start + step - 1
            };
            *next_id += 1;
            let mut table = t(*next_id, "", "", 0);
            table.smallest_key = key(start);
            table.largest_key = key(end);
            table.file_size = bytes / pieces;
            levels[pick.output_level].push(table);
        }
    }
    levels[pick.output_level].sort_by(|a, b| a.smallest_key.cmp(&b.smallest_key));
}

/// Many rounds of: flush an L0 table over a random key range, pick up to
/// two compactions at once (the second with the first's tables busy),
/// apply them in either order. After every step the levels stay sorted
/// and disjoint and two concurrent picks never share a table; L0 stays
/// bounded because compaction keeps up.
#[test]
fn simulation_keeps_levels_disjoint_under_concurrent_picks() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut levels = shape(vec![]);
    let mut cursors = no_cursors();
    let mut next_id = 0;
    let mut max_l0 = 0;
    for _ in 0..3000 {
        let lo = rng.gen_range(0..1_000_000u64);
        let hi = lo + rng.gen_range(0..200_000u64);
        next_id += 1;
        let mut table = t(next_id, "", "", 2);
        table.smallest_key = key(lo);
        table.largest_key = key(hi);
        levels[0].insert(0, table);
        max_l0 = max_l0.max(levels[0].len());

        let mut running: Vec<Compaction> = Vec::new();
        let mut busy_ids = HashSet::new();
        while running.len() < 2 {
            let Some(pick) = pick(&view(&levels), &options(), &busy_ids, &cursors) else {
                break;
            };
            for (_, id) in pick.consumed() {
                assert!(busy_ids.insert(id), "table {id} picked twice");
            }
            cursors[pick.level] = pick.cursor.clone();
            running.push(pick);
        }
        if rng.gen_bool(0.5) {
            running.reverse();
        }
        for pick in &running {
            apply(&mut levels, pick, &mut next_id);
            check_levels(&levels);
        }
    }
    assert!(max_l0 <= 5, "L0 reached {max_l0} tables");
    let l1 = levels[1].iter().map(|t| t.file_size).sum::<u64>();
    assert!(l1 < 3 * options().l1_size, "L1 holds {l1} bytes");
}
