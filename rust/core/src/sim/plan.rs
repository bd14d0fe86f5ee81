//! Cache blocking: consecutive ops run block by block while the block sits
//! in cache, so a deep circuit costs far fewer sweeps of main memory than it
//! has gates.
//!
//! A block is the set of amplitudes that agree on every qubit except the
//! `low_bits` lowest ones and a few chosen "high" qubits. It is made of
//! `2^high` contiguous segments of `2^low_bits` amplitudes, which are copied
//! into a small buffer (a streaming copy), worked on by every op of the stage
//! with the high qubits renumbered just above the low ones, and copied back.
//! Ops on high qubits therefore stay in cache too, instead of each needing
//! its own sweep. Blocks are disjoint, so they run on any number of threads
//! with the same bits as on one.
//!
//! Stages are formed greedily in circuit order. Ops on disjoint qubits
//! commute, so an op that does not fit the current stage is deferred, and a
//! later op may still join the stage unless it touches a deferred op's qubits.
//! Reordering commuting ops changes results only by rounding.

use crate::sim::fusion::FusedOp;
use crate::sim::kernels::{Op, deposit, insert_masks};
use crate::sim::precision::Amplitude;
use crate::sim::simd;
use num_complex::{Complex32 as C32, Complex64 as C64};
use rayon::prelude::*;

/// Block geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockConfig {
    /// log2 of the amplitudes in one block: 2^15 complex128 is 512 KiB, a
    /// typical per-core L2 (measured best at 20-24 qubits with
    /// `cargo run --release -p ferroq-benches --bin tune`).
    pub block_bits: usize,
    /// Most high qubits one block may gather.
    pub max_high: usize,
}

impl Default for BlockConfig {
    fn default() -> Self {
        BlockConfig {
            block_bits: 15,
            max_high: 5,
        }
    }
}

impl BlockConfig {
    /// The blocking for a state of `state_bytes`: none when the state fits in
    /// half the last-level cache, where gathering blocks in and out costs
    /// more than the sweeps it saves (a fused plan ran 5-20% faster without
    /// blocking at 18-20 qubits on a 32 MiB cache, and 1.5x slower at 22:
    /// benches/RESULTS.md); the default otherwise, and whenever the cache's
    /// size is unknown.
    pub fn for_state(state_bytes: u128) -> BlockConfig {
        match last_level_cache_bytes() {
            Some(cache) if state_bytes.saturating_mul(2) <= cache as u128 => BlockConfig::OFF,
            _ => BlockConfig::default(),
        }
    }

    /// No blocking: every op sweeps the state on its own.
    pub const OFF: BlockConfig = BlockConfig {
        block_bits: usize::MAX,
        max_high: 0,
    };
}

/// Bytes of the largest CPU cache as blocking sees it, read once:
/// `FERROQ_CACHE_BYTES` when set (0: unknown, so states are always blocked;
/// anything but a number of bytes is refused, see [`crate::sim::env`]), else
/// [`system_last_level_cache_bytes`].
pub fn last_level_cache_bytes() -> Option<u64> {
    use std::sync::OnceLock;
    static CACHE: OnceLock<Option<u64>> = OnceLock::new();
    *CACHE.get_or_init(|| match crate::sim::env::cache_bytes() {
        Ok(Some(bytes)) => bytes,
        // Unset, or refused when a run's options are checked.
        _ => system_last_level_cache_bytes(),
    })
}

/// Bytes of the highest-level cache of CPU 0, from Linux's sysfs; `None`
/// elsewhere or when unreadable.
pub fn system_last_level_cache_bytes() -> Option<u64> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).ok();
    dir.filter_map(|entry| {
        let path = entry.ok()?.path();
        let level: u32 = read(path.join("level"))?.trim().parse().ok()?;
        let size = parse_cache_size(&read(path.join("size"))?)?;
        Some((level, size))
    })
    .max()
    .map(|(_, size)| size)
}

/// sysfs cache sizes: "32768K", "1M", or plain bytes.
fn parse_cache_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.as_bytes().last()? {
        b'K' => (&text[..text.len() - 1], 1u64 << 10),
        b'M' => (&text[..text.len() - 1], 1 << 20),
        b'G' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// One op over the whole state.
    Sweep { op: Op, units: u64 },
    /// Several ops, block by block. `ops` are renumbered onto the block:
    /// qubit `q < low_bits` stays `q`, and `high[i]` becomes `low_bits + i`.
    Blocked {
        low_bits: usize,
        high: Vec<usize>,
        ops: Vec<Op>,
        units: u64,
    },
}

impl Stage {
    pub fn units(&self) -> u64 {
        match self {
            Stage::Sweep { units, .. } | Stage::Blocked { units, .. } => *units,
        }
    }

    /// Applies the stage to a whole complex128 state (see
    /// [`Amplitude::apply_stage`] for any precision).
    pub fn apply(&self, amps: &mut [C64], parallel: bool) {
        match self {
            Stage::Sweep { op, .. } => op.apply(amps, parallel),
            Stage::Blocked {
                low_bits,
                high,
                ops,
                ..
            } => apply_blocked(amps, *low_bits, high, ops, parallel),
        }
    }
}

/// Ops of a circuit arranged into stages for a state of `num_qubits`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub stages: Vec<Stage>,
}

impl Plan {
    pub fn new(num_qubits: usize, ops: Vec<FusedOp>, cfg: &BlockConfig) -> Plan {
        // A state that fits in one block is already in cache for every op.
        if num_qubits <= cfg.block_bits || cfg.max_high == 0 {
            return Plan {
                stages: ops
                    .into_iter()
                    .map(|f| Stage::Sweep {
                        op: f.op,
                        units: f.units,
                    })
                    .collect(),
            };
        }
        let low_bits = cfg.block_bits.saturating_sub(cfg.max_high).max(1);
        let low_mask = (1usize << low_bits) - 1;
        let mut stages = Vec::new();
        let mut remaining = ops;
        while !remaining.is_empty() {
            let mut high_mask = 0usize;
            // Qubits of deferred ops: a later op touching them must wait too.
            let mut blocked = 0usize;
            let mut taken: Vec<FusedOp> = Vec::new();
            let mut deferred: Vec<FusedOp> = Vec::new();
            for f in remaining {
                let mask = f.op.qubit_mask();
                let with = high_mask | (mask & !low_mask);
                if mask & blocked == 0 && with.count_ones() as usize <= cfg.max_high {
                    high_mask = with;
                    taken.push(f);
                } else {
                    blocked |= mask;
                    deferred.push(f);
                }
            }
            if taken.is_empty() {
                // The first op is wider than any block: it sweeps alone.
                let f = deferred.remove(0);
                stages.push(Stage::Sweep {
                    op: f.op,
                    units: f.units,
                });
            } else if taken.len() == 1 {
                let f = taken.pop().expect("one op");
                stages.push(Stage::Sweep {
                    op: f.op,
                    units: f.units,
                });
            } else {
                stages.push(blocked_stage(num_qubits, low_bits, high_mask, taken));
            }
            remaining = deferred;
        }
        Plan { stages }
    }

    pub fn units(&self) -> u64 {
        self.stages.iter().map(Stage::units).sum()
    }
}

fn blocked_stage(num_qubits: usize, low_bits: usize, high_mask: usize, ops: Vec<FusedOp>) -> Stage {
    let high: Vec<usize> = (low_bits..num_qubits)
        .filter(|q| high_mask >> q & 1 == 1)
        .collect();
    let mut map: Vec<usize> = (0..num_qubits).collect();
    for (i, &q) in high.iter().enumerate() {
        map[q] = low_bits + i;
    }
    let units = ops.iter().map(|f| f.units).sum();
    Stage::Blocked {
        low_bits,
        ops: ops.iter().map(|f| f.op.remap(&map)).collect(),
        high,
        units,
    }
}

/// Base pointer of the state shared by the block tasks.
struct StatePtr<A>(*mut A);
impl<A> Clone for StatePtr<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for StatePtr<A> {}
// SAFETY: tasks only touch the segments of their own block, and blocks are
// disjoint (they differ in at least one bit outside the block's qubits).
unsafe impl<A: Send> Send for StatePtr<A> {}
unsafe impl<A: Send> Sync for StatePtr<A> {}

impl<A> StatePtr<A> {
    /// # Safety
    /// `i` is inside the state.
    unsafe fn at(self, i: usize) -> *mut A {
        unsafe { self.0.add(i) }
    }
}

/// Runs `ops` (renumbered onto the block) block by block; see [`Stage::Blocked`].
/// Blocks are worked on in complex128 (widened when the state is stored in
/// single precision).
pub(crate) fn apply_blocked<A: Amplitude>(
    amps: &mut [A],
    low_bits: usize,
    high: &[usize],
    ops: &[Op],
    parallel: bool,
) {
    if high.is_empty()
        && let Some(amps) = A::as_double_mut(amps)
    {
        // Each block is one contiguous segment: work in place.
        let seg = 1usize << low_bits;
        let body = |chunk: &mut [C64]| ops.iter().for_each(|op| op.apply(chunk, false));
        if parallel {
            amps.par_chunks_mut(seg).for_each(body);
        } else {
            amps.chunks_mut(seg).for_each(body);
        }
        return;
    }
    let work = |buf: &mut [C64]| ops.iter().for_each(|op| op.apply(buf, false));
    let zero = C64::new(0.0, 0.0);
    for_each_block(
        amps,
        low_bits,
        high,
        0,
        zero,
        A::widen,
        A::narrow,
        work,
        parallel,
    );
}

/// [`apply_blocked`] for a single-precision state with vectorised f32
/// kernels: blocks stay complex64 and every op runs on them in f32 where a
/// kernel fits (an op that fits none, wider than 5 qubits or leaving too few
/// free qubits in the block, is widened on its own).
pub(crate) fn apply_blocked_single(
    amps: &mut [C32],
    low_bits: usize,
    high: &[usize],
    ops: &[Op],
    parallel: bool,
) {
    let isa = simd::isa();
    let work = |block: &mut [C32]| {
        for op in ops {
            if !op.apply_vectorised(isa, block, false) {
                apply_widened_op(block, op, false);
            }
        }
    };
    if high.is_empty() {
        let seg = 1usize << low_bits;
        if parallel {
            amps.par_chunks_mut(seg).for_each(work);
        } else {
            amps.chunks_mut(seg).for_each(work);
        }
        return;
    }
    let zero = C32::new(0.0, 0.0);
    for_each_block(amps, low_bits, high, 0, zero, |a| a, |b| b, work, parallel);
}

/// log2 of the amplitudes in the blocks an op on a single-precision state
/// runs in: as [`BlockConfig::block_bits`], a block of complex128 that fits
/// a per-core L2, large enough that per-block costs vanish.
const WIDENED_BLOCK_BITS: usize = 15;

/// Applies `op` to a state stored in any precision, widening it to complex128
/// block by block. A block holds the op's targets; its controls above the
/// block's low qubits pick the blocks to visit instead of widening the block,
/// so a many-controlled gate costs no more buffer than an uncontrolled one.
pub(crate) fn apply_widened_op<A: Amplitude>(amps: &mut [A], op: &Op, parallel: bool) {
    let num_qubits = amps.len().trailing_zeros() as usize;
    let ctrl = op.ctrl_mask();
    let targets = op.qubit_mask() & !ctrl;
    // As many low qubits as leave room in the block for the targets above them.
    let mut low_bits = WIDENED_BLOCK_BITS.min(num_qubits);
    while low_bits > 0
        && low_bits + (targets >> low_bits).count_ones() as usize > WIDENED_BLOCK_BITS
    {
        low_bits -= 1;
    }
    let low_mask = (1usize << low_bits) - 1;
    let fixed = ctrl & !low_mask;
    let high_targets = targets & !low_mask;
    let high: Vec<usize> = (low_bits..num_qubits)
        .filter(|q| high_targets >> q & 1 == 1)
        .collect();
    let mut map: Vec<usize> = (0..num_qubits).collect();
    for (i, &q) in high.iter().enumerate() {
        map[q] = low_bits + i;
    }
    let inner = op.without_controls(fixed).remap(&map);
    let zero = C64::new(0.0, 0.0);
    let work = |buf: &mut [C64]| inner.apply(buf, false);
    for_each_block(
        amps,
        low_bits,
        &high,
        fixed,
        zero,
        A::widen,
        A::narrow,
        work,
        parallel,
    );
}

/// Calls `work` on every block: `2^high.len()` segments of `2^low_bits`
/// amplitudes, copied (through `load`, which may widen them) into a
/// per-thread buffer and back (through `store`). Only blocks whose `fixed`
/// bits are all set are visited.
#[allow(clippy::too_many_arguments)]
fn for_each_block<A: Amplitude, B: Copy + Send + Sync>(
    amps: &mut [A],
    low_bits: usize,
    high: &[usize],
    fixed: usize,
    zero: B,
    load: impl Fn(A) -> B + Sync,
    store: impl Fn(B) -> A + Sync,
    work: impl Fn(&mut [B]) + Sync,
    parallel: bool,
) {
    let seg = 1usize << low_bits;
    let high_mask = high.iter().fold(0usize, |m, &q| m | (1 << q));
    let masks = insert_masks((seg - 1) | high_mask | fixed);
    let block_len = seg << high.len();
    let blocks = amps.len() >> masks.len();
    let offsets: Vec<usize> = (0..1usize << high.len())
        .map(|j| {
            high.iter()
                .enumerate()
                .fold(0, |acc, (i, &q)| acc | (((j >> i) & 1) << q))
        })
        .collect();
    let len = amps.len();
    let state = StatePtr(amps.as_mut_ptr());
    let body = |buf: &mut Vec<B>, b: usize| {
        let base = deposit(b, &masks) | fixed;
        for (j, &off) in offsets.iter().enumerate() {
            debug_assert!((base | off) + seg <= len);
            // SAFETY: segment `base | off` lies inside the state (its low
            // bits are clear and every other bit is a valid qubit), and only
            // block `b` touches it.
            let src = unsafe { std::slice::from_raw_parts(state.at(base | off), seg) };
            for (dst, a) in buf[j * seg..(j + 1) * seg].iter_mut().zip(src) {
                *dst = load(*a);
            }
        }
        work(buf);
        for (j, &off) in offsets.iter().enumerate() {
            // SAFETY: as above.
            let dst = unsafe { std::slice::from_raw_parts_mut(state.at(base | off), seg) };
            for (a, &z) in dst.iter_mut().zip(&buf[j * seg..(j + 1) * seg]) {
                *a = store(z);
            }
        }
    };
    // A few equal runs of blocks per thread, each with one buffer: rayon's
    // adaptive splitting would allocate (and page in) a fresh buffer for
    // every piece it splits off.
    let runs = if parallel {
        (4 * rayon::current_num_threads()).min(blocks)
    } else {
        1
    };
    let per_run = blocks.div_ceil(runs);
    let run = |r: usize| {
        let mut buf = vec![zero; block_len];
        (r * per_run..((r + 1) * per_run).min(blocks)).for_each(|b| body(&mut buf, b));
    };
    if runs > 1 {
        (0..runs).into_par_iter().for_each(run);
    } else {
        run(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::gates::GateKind;
    use crate::sim::fusion::{FusionConfig, fuse};
    use crate::testing::{self, max_distance, random_state};

    fn random_ops(n: usize, count: usize, seed: u64) -> Vec<FusedOp> {
        testing::random_ops(n, 3, count, seed)
            .into_iter()
            .map(|op| FusedOp { op, units: 1 })
            .collect()
    }

    fn assert_close(got: &[C64], want: &[C64], what: &str) {
        let worst = max_distance(got, want);
        assert!(worst < 1e-12, "{what}: off by {worst:e}");
    }

    fn apply(plan: &Plan, state: &[C64], parallel: bool) -> Vec<C64> {
        let mut s = state.to_vec();
        for stage in &plan.stages {
            stage.apply(&mut s, parallel);
        }
        s
    }

    #[test]
    fn blocked_plans_match_gate_by_gate_with_the_same_bits_on_any_thread_count() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (n, block_bits, max_high) in [(8, 5, 2), (9, 4, 3), (10, 6, 1), (10, 7, 4), (7, 7, 3)] {
            let cfg = BlockConfig {
                block_bits,
                max_high,
            };
            for seed in 0..10 {
                let ops = random_ops(n, 80, seed + 100 * n as u64);
                let plain = Plan::new(n, ops.clone(), &BlockConfig::OFF);
                let blocked = Plan::new(n, ops, &cfg);
                assert_eq!(blocked.units(), 80);
                if n > block_bits {
                    assert!(
                        blocked.stages.len() < plain.stages.len(),
                        "no stage took several ops (n={n}, seed={seed})"
                    );
                }
                let state = random_state(n, seed);
                let want = apply(&plain, &state, false);
                let serial = apply(&blocked, &state, false);
                assert_close(&serial, &want, &format!("n={n} seed={seed}"));
                let par = pool.install(|| apply(&blocked, &state, true));
                assert!(par == serial, "n={n} seed={seed}: threads changed the bits");
            }
        }
    }

    #[test]
    fn fused_and_blocked_together_match_to_1e12() {
        let n = 11;
        for seed in 0..10 {
            let ops = random_ops(n, 200, seed);
            let plain = Plan::new(n, ops.clone(), &BlockConfig::OFF);
            let fused = fuse(
                ops.into_iter().map(|f| (f.op, f.units)).collect(),
                &FusionConfig::default(),
            );
            let plan = Plan::new(
                n,
                fused,
                &BlockConfig {
                    block_bits: 7,
                    max_high: 4,
                },
            );
            let state = random_state(n, seed);
            let want = apply(&plain, &state, false);
            assert_close(&apply(&plan, &state, true), &want, &format!("seed={seed}"));
        }
    }

    #[test]
    fn cache_sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_cache_size("32768K\n"), Some(32 << 20));
        assert_eq!(parse_cache_size("1M"), Some(1 << 20));
        assert_eq!(parse_cache_size("4096"), Some(4096));
        assert_eq!(parse_cache_size("lots"), None);
        assert_eq!(parse_cache_size(""), None);
    }

    #[test]
    fn states_in_half_the_cache_are_not_blocked() {
        match last_level_cache_bytes() {
            Some(cache) => {
                assert_eq!(BlockConfig::for_state(cache as u128 / 2), BlockConfig::OFF);
                assert_eq!(
                    BlockConfig::for_state(cache as u128 / 2 + 1),
                    BlockConfig::default()
                );
            }
            None => assert_eq!(BlockConfig::for_state(1), BlockConfig::default()),
        }
        assert_eq!(BlockConfig::for_state(u128::MAX), BlockConfig::default());
    }

    #[test]
    fn an_op_wider_than_a_block_sweeps_alone_in_order() {
        let n = 8;
        let mcx = Op::from_gate(GateKind::Mcx, &[7, 6, 5, 4, 0], &[]).unwrap();
        let h = |q| FusedOp {
            op: Op::from_gate(GateKind::H, &[q], &[]).unwrap(),
            units: 1,
        };
        let ops = vec![
            h(7),
            h(1),
            FusedOp {
                op: mcx.clone(),
                units: 1,
            },
            h(7),
            h(2),
        ];
        let cfg = BlockConfig {
            block_bits: 4,
            max_high: 2,
        };
        let plan = Plan::new(n, ops.clone(), &cfg);
        assert!(plan.stages.contains(&Stage::Sweep { op: mcx, units: 1 }));
        let state = random_state(n, 3);
        let want = apply(&Plan::new(n, ops, &BlockConfig::OFF), &state, false);
        assert_close(&apply(&plan, &state, false), &want, "mcx");
    }
}
