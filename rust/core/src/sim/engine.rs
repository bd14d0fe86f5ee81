//! Running circuits: compile once, simulate, sample, and spread the work over
//! threads without ever nesting two levels of parallelism.

use crate::circuit::{Circuit, Instruction, SaveKind};
use crate::error::{Error, Result};
use crate::sim::fusion::{FusionConfig, fuse};
use crate::sim::kernels::Op;
use crate::sim::parallel;
use crate::sim::plan::{BlockConfig, Plan};
use crate::sim::precision::{Amplitude, Precision, StateVector};
use crate::sim::rng::{self, SimRng};
use crate::sim::sample;
use crate::sim::simd;
use crate::sim::state;
use num_complex::{Complex32 as C32, Complex64 as C64};
use rayon::prelude::*;
use std::time::Instant;

/// Default qubit count from which one circuit's amplitudes are split over
/// threads; below it, threads take whole circuits or whole shots instead.
pub const DEFAULT_PARALLEL_THRESHOLD: usize = 14;

#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub shots: u64,
    /// Run seed; `None` draws one from the OS (and reports it).
    pub seed: Option<u64>,
    /// Keep each shot's outcome, in shot order.
    pub memory: bool,
    /// Keep each circuit's final state.
    pub statevector: bool,
    /// Worker threads; 0 means the default ([`parallel::default_threads`]).
    pub threads: usize,
    pub parallel_threshold: usize,
    /// Memory limit for one statevector; `None` means available memory.
    pub max_memory_bytes: Option<u64>,
    /// Fuse gates into blocks and run them cache block by cache block.
    /// Changes results only by rounding (well below 1e-12).
    pub fusion: bool,
    /// Index of the first circuit in the whole batch this run is part of:
    /// circuit `i` gets the seed of batch index `first_index + i`, so a batch
    /// split into chunks samples exactly as the batch run whole.
    pub first_index: u64,
    /// How amplitudes are stored (see [`crate::sim::precision`]).
    pub precision: Precision,
    /// Most circuits of a batch simulated at once (each whole, on one
    /// thread); 0 means up to the thread count. 1 runs them one after the
    /// other, every thread on each. Only circuits below `parallel_threshold`
    /// are ever run side by side. Results do not depend on it.
    pub max_parallel_experiments: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            shots: 1024,
            seed: None,
            memory: false,
            statevector: false,
            threads: 0,
            parallel_threshold: DEFAULT_PARALLEL_THRESHOLD,
            max_memory_bytes: None,
            fusion: true,
            first_index: 0,
            precision: Precision::Double,
            max_parallel_experiments: 0,
        }
    }
}

fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidOption {
        name: name.into(),
        reason: reason.into(),
    }
}

impl RunOptions {
    pub fn validate(&self) -> Result<()> {
        if self.shots < 1 {
            return Err(invalid(
                "shots",
                format!("must be at least 1, got {}", self.shots),
            ));
        }
        if self.shots > usize::MAX as u64 / 2 {
            return Err(invalid(
                "shots",
                format!(
                    "must be at most {}, got {}",
                    usize::MAX as u64 / 2,
                    self.shots
                ),
            ));
        }
        if !(1..=62).contains(&self.parallel_threshold) {
            return Err(invalid(
                "parallel_threshold",
                format!(
                    "must be between 1 and 62 qubits, got {}",
                    self.parallel_threshold
                ),
            ));
        }
        if self.threads > 4096 {
            return Err(invalid(
                "max_parallel_threads",
                format!("must be at most 4096, got {}", self.threads),
            ));
        }
        if self.max_memory_bytes == Some(0) {
            return Err(invalid("max_memory_mb", "must be positive"));
        }
        Ok(())
    }

    fn thread_count(&self) -> usize {
        if self.threads == 0 {
            parallel::default_threads()
        } else {
            self.threads
        }
    }
}

/// What a running batch hears from and reports to whoever runs it (a job).
pub trait Monitor: Sync {
    /// Checked between gates, shots and circuits: `true` stops the run with
    /// [`Error::Cancelled`].
    fn cancelled(&self) -> bool;
    /// `units` more units of work are done (see [`work_units`]).
    fn advance(&self, units: u64);
}

/// A monitor that never cancels and ignores progress.
pub struct Unmonitored;

impl Monitor for Unmonitored {
    fn cancelled(&self) -> bool {
        false
    }
    fn advance(&self, _: u64) {}
}

/// Units of work in a circuit for progress reports: one per instruction,
/// plus one for sampling.
pub fn circuit_units(circuit: &Circuit) -> u64 {
    circuit.instructions().len() as u64 + 1
}

/// Units of work in a batch.
pub fn work_units(circuits: &[Circuit]) -> u64 {
    circuits.iter().map(circuit_units).sum()
}

fn check(monitor: &dyn Monitor) -> Result<()> {
    if monitor.cancelled() {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

/// The outcome of one circuit.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentResult {
    pub name: Option<String>,
    pub num_qubits: usize,
    pub num_clbits: usize,
    pub shots: u64,
    pub seed: u64,
    /// u64 words per classical outcome; clbit `c` is bit `c % 64` of word `c / 64`.
    pub words: usize,
    /// Distinct outcomes in ascending order, `words` each.
    pub count_keys: Vec<u64>,
    pub count_values: Vec<u64>,
    /// Per-shot outcomes in shot order, `words` each, when asked for.
    pub memory: Option<Vec<u64>>,
    pub statevector: Option<StateVector>,
    /// Values of the circuit's save instructions, in program order.
    pub saved: Vec<(String, SavedValue)>,
    /// Wall time of this circuit's simulation and sampling, in seconds.
    pub time_taken: f64,
}

/// What a save instruction produced. Probabilities and expectation values
/// of a circuit simulated shot by shot are averages over the shots.
#[derive(Debug, Clone, PartialEq)]
pub enum SavedValue {
    Statevector(StateVector),
    Probabilities(Vec<f64>),
    ProbabilitiesDict(Vec<f64>),
    Amplitudes(Vec<C64>),
    ExpectationValue(C64),
}

#[derive(Debug, Clone)]
struct SaveSpec {
    kind: SaveKind,
    label: String,
    qubits: Vec<usize>,
}

/// Bytes a save's value takes, for a state of `num_qubits`.
fn save_bytes(spec: &SaveSpec, num_qubits: usize) -> u128 {
    match &spec.kind {
        // Counted as complex128 whatever the run's precision: an upper bound.
        SaveKind::Statevector => state::state_bytes(num_qubits, Precision::Double),
        // One f64 per outcome: half a complex128 each.
        SaveKind::Probabilities | SaveKind::ProbabilitiesDict => {
            state::state_bytes(spec.qubits.len(), Precision::Double) / 2
        }
        SaveKind::Amplitudes(indices) => 16 * indices.len() as u128,
        SaveKind::ExpectationValue(_) => 16,
    }
}

/// Computes a save from the state; `phase` is the circuit's global phase,
/// which the engine applies to what it hands out rather than to the state.
fn compute_save<A: Amplitude>(
    spec: &SaveSpec,
    amps: &[A],
    phase: Option<C64>,
    parallel: bool,
) -> Result<SavedValue> {
    let with_phase = |a: C64| phase.map_or(a, |f| a * f);
    Ok(match &spec.kind {
        SaveKind::Statevector => {
            let mut copy = state::try_clone(amps, amps.len().trailing_zeros() as usize)?;
            if let Some(f) = phase {
                state::scale(&mut copy, f, parallel);
            }
            SavedValue::Statevector(A::into_state(copy))
        }
        SaveKind::Probabilities => {
            SavedValue::Probabilities(state::marginal_probabilities(amps, &spec.qubits, parallel))
        }
        SaveKind::ProbabilitiesDict => SavedValue::ProbabilitiesDict(
            state::marginal_probabilities(amps, &spec.qubits, parallel),
        ),
        SaveKind::Amplitudes(indices) => SavedValue::Amplitudes(
            indices
                .iter()
                .map(|&i| with_phase(amps[i as usize].widen()))
                .collect(),
        ),
        SaveKind::ExpectationValue(terms) => {
            SavedValue::ExpectationValue(state::expectation(amps, terms, parallel))
        }
    })
}

/// Adds one shot's saved values into the running sums (averaged at the end).
fn accumulate(sum: &mut [SavedValue], shot: Vec<SavedValue>) {
    for (acc, v) in sum.iter_mut().zip(shot) {
        match (acc, v) {
            (SavedValue::Probabilities(a), SavedValue::Probabilities(b))
            | (SavedValue::ProbabilitiesDict(a), SavedValue::ProbabilitiesDict(b)) => {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y)
            }
            (SavedValue::ExpectationValue(a), SavedValue::ExpectationValue(b)) => *a += b,
            _ => unreachable!("per-shot saves are probabilities or expectation values"),
        }
    }
}

fn scale_saved(sum: &mut [SavedValue], factor: f64) {
    for v in sum {
        match v {
            SavedValue::Probabilities(a) | SavedValue::ProbabilitiesDict(a) => {
                a.iter_mut().for_each(|x| *x *= factor)
            }
            SavedValue::ExpectationValue(a) => *a *= factor,
            _ => {}
        }
    }
}

impl ExperimentResult {
    pub fn num_distinct(&self) -> usize {
        self.count_values.len()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub seed: u64,
    pub experiments: Vec<ExperimentResult>,
    /// How many circuits were allowed to run side by side: the bound from
    /// `max_parallel_experiments` and the thread count, or 1 when they ran
    /// one after the other.
    pub parallel_experiments: usize,
    /// Circuits that failed, by their index in this batch (not counting
    /// `first_index`), each with its error, in index order. They have no entry
    /// in `experiments`; the other circuits still ran. Cancellation is never
    /// a circuit's failure: it stops the whole run.
    pub failed: Vec<(usize, Error)>,
}

impl RunResult {
    /// The first failure, as the error of the whole run, or the result itself
    /// when every circuit succeeded.
    pub fn into_complete(mut self) -> Result<RunResult> {
        if self.failed.is_empty() {
            Ok(self)
        } else {
            Err(self.failed.swap_remove(0).1)
        }
    }
}

/// Formats one outcome as a bitstring of `num_clbits` characters, clbit 0
/// rightmost (Qiskit's order).
pub fn format_bits(words: &[u64], num_clbits: usize) -> String {
    let mut buf = vec![b'0'; num_clbits];
    write_bits(words, &mut buf);
    String::from_utf8(buf).expect("ASCII digits")
}

/// Writes the bitstring of `words` into `buf` (one ASCII digit per clbit,
/// clbit 0 last): the allocation-free form of [`format_bits`], for callers
/// formatting many records into one buffer.
pub fn write_bits(words: &[u64], buf: &mut [u8]) {
    for (c, slot) in buf.iter_mut().rev().enumerate() {
        *slot = b'0' + ((words[c / 64] >> (c % 64)) & 1) as u8;
    }
}

/// Writes `words` (clbit 0 in bit 0 of `words[0]`) into `out` as Python's
/// `hex()` writes the integer: `0x`, lowercase digits, no leading zeros, and
/// `0x0` for zero. This is the key format of Qiskit's `Result` counts.
pub fn write_hex(words: &[u64], out: &mut String) {
    use std::fmt::Write;
    out.clear();
    out.push_str("0x");
    match words.iter().rposition(|&w| w != 0) {
        None => out.push('0'),
        Some(top) => {
            // Writing into a String cannot fail.
            let _ = write!(out, "{:x}", words[top]);
            for w in words[..top].iter().rev() {
                let _ = write!(out, "{w:016x}");
            }
        }
    }
}

/// A circuit compiled for execution.
#[derive(Debug)]
enum Program {
    /// Every measurement is terminal: simulate once, then sample. `measures`
    /// are (qubit, clbit) in program order (a later write to a clbit wins).
    /// `segments` are the gates between barriers: fusion and blocking never
    /// move a gate across a barrier, as Qiskit's transpiler never does.
    Sampled {
        segments: Vec<Vec<Op>>,
        measures: Vec<(usize, usize)>,
        saves: Vec<SaveSpec>,
    },
    /// Mid-circuit measurement or reset: `prefix` runs once, `rest` per shot,
    /// then the saves on each shot's final state.
    PerShot {
        prefix: Vec<Vec<Op>>,
        rest: Vec<Step>,
        saves: Vec<SaveSpec>,
    },
}

#[derive(Debug)]
enum Step {
    Gate(Op),
    Barrier,
    Measure { qubit: usize, clbit: usize },
    Reset { qubit: usize },
}

fn compile_gate(inst: &Instruction) -> Option<Op> {
    match inst {
        Instruction::Gate {
            kind,
            qubits,
            params,
        } => Op::from_gate(*kind, qubits, params),
        Instruction::Unitary { qubits, matrix } => Some(Op::from_matrix(matrix, qubits, &[])),
        _ => None,
    }
}

fn compile(circuit: &Circuit) -> Result<Program> {
    let n = circuit.num_qubits();
    let mut touched = vec![false; n];
    let mut measured = vec![false; n];
    let mut any_measure = false;
    let mut terminal = true;
    let mut steps = Vec::new();
    let mut saves: Vec<SaveSpec> = Vec::new();
    for inst in circuit.instructions() {
        let after_save = |what: &str| {
            Error::InvalidCircuit(format!(
                "'{what}' follows save instruction '{}': saves are taken from the final state, \
                 so only measurements and barriers may come after them",
                saves[0].label
            ))
        };
        match inst {
            Instruction::Barrier { .. } => steps.push(Step::Barrier),
            Instruction::Save {
                kind,
                label,
                qubits,
            } => {
                // A save after a measurement sees a collapsed, shot-dependent state.
                terminal &= !any_measure;
                saves.push(SaveSpec {
                    kind: kind.clone(),
                    label: label.clone(),
                    qubits: qubits.clone(),
                });
            }
            // A reset before anything touched the qubit finds it in |0>.
            Instruction::Reset { qubit } if !touched[*qubit] => {}
            Instruction::Reset { qubit } => {
                if !saves.is_empty() {
                    return Err(after_save("reset"));
                }
                terminal = false;
                steps.push(Step::Reset { qubit: *qubit });
            }
            Instruction::Measure { qubit, clbit } => {
                touched[*qubit] = true;
                measured[*qubit] = true;
                any_measure = true;
                steps.push(Step::Measure {
                    qubit: *qubit,
                    clbit: *clbit,
                });
            }
            _ => {
                if !saves.is_empty() {
                    return Err(after_save(inst.name()));
                }
                for &q in inst.qubits() {
                    terminal &= !measured[q];
                    touched[q] = true;
                }
                if let Some(op) = compile_gate(inst) {
                    steps.push(Step::Gate(op));
                }
            }
        }
    }
    if terminal {
        // Gates after a measurement act on other qubits and commute with it.
        let measures = steps
            .iter()
            .filter_map(|step| match *step {
                Step::Measure { qubit, clbit } => Some((qubit, clbit)),
                _ => None,
            })
            .collect();
        return Ok(Program::Sampled {
            segments: gate_segments(steps),
            measures,
            saves,
        });
    }
    let split = steps
        .iter()
        .position(|s| !matches!(s, Step::Gate(_) | Step::Barrier))
        .unwrap_or(steps.len());
    let rest = steps.split_off(split);
    Ok(Program::PerShot {
        prefix: gate_segments(steps),
        rest,
        saves,
    })
}

/// The gates of `steps`, split at barriers; measurements are skipped.
fn gate_segments(steps: Vec<Step>) -> Vec<Vec<Op>> {
    let mut segments = vec![Vec::new()];
    for step in steps {
        match step {
            Step::Gate(op) => segments.last_mut().expect("one segment").push(op),
            Step::Barrier => segments.push(Vec::new()),
            Step::Measure { .. } => {}
            Step::Reset { .. } => unreachable!("a reset makes the circuit per-shot"),
        }
    }
    segments
}

/// How one circuit uses the threads of the pool it runs in.
#[derive(Debug, Clone, Copy)]
struct Mode {
    /// Split each kernel's amplitudes over threads.
    kernels: bool,
    /// Run shots of a per-shot circuit concurrently.
    shots: bool,
    /// Report progress gate by gate. Off when many small circuits run at
    /// once: there a per-circuit report is as informative and the shared
    /// counter would be hit from every thread for every gate.
    gate_progress: bool,
}

fn words_for(num_clbits: usize) -> usize {
    num_clbits.div_ceil(64).max(1)
}

/// Shots simulated at once when a circuit runs shot by shot over threads:
/// enough to keep the threads busy, few enough that their saved values are
/// small beside the state.
const SHOT_BLOCK: usize = 256;

/// Bytes the shots of a run hold at least, whatever the circuit: sorted
/// samples and their outcomes (16 bytes a shot), one outcome record a shot,
/// and again for per-shot memory.
fn shot_bytes(shots: u64, words: usize, memory: bool) -> u128 {
    let record = 8 * words as u128;
    shots as u128 * (16 + record + if memory { record } else { 0 })
}

/// Refuses a run whose shots and saved values would not fit beside its state.
fn check_output_memory(
    circuit: &Circuit,
    opts: &RunOptions,
    output_bytes: u128,
    state_copies: usize,
) -> Result<()> {
    let state = state::state_bytes(circuit.num_qubits(), opts.precision)
        .saturating_mul(state_copies as u128);
    state::check_output_memory(
        || {
            format!(
                "{} shots of {} clbits{}",
                opts.shots,
                circuit.num_clbits(),
                if opts.memory {
                    " with per-shot memory"
                } else {
                    ""
                }
            )
        },
        output_bytes,
        state,
        opts.max_memory_bytes,
    )
}

/// Writes clbits from a basis-state index through the measurement map.
fn outcome_of(index: u64, measures: &[(usize, usize)], out: &mut [u64]) {
    out.iter_mut().for_each(|w| *w = 0);
    for &(q, c) in measures {
        let bit = (index >> q) & 1;
        out[c / 64] = (out[c / 64] & !(1 << (c % 64))) | (bit << (c % 64));
    }
}

/// The measurement map of a sampled circuit, ready to turn many basis-state
/// indices into clbit records. Up to 64 clbits, a table per byte of the
/// index gives that byte's clbits at once: a 20-qubit index costs three
/// lookups instead of twenty bit moves (which were a quarter of the time of
/// 10^6 shots from 20 qubits).
struct OutcomeMap<'a> {
    measures: &'a [(usize, usize)],
    /// `tables[b][v]`: the clbits set by byte `b` of an index being `v`.
    tables: Vec<[u64; 256]>,
}

impl<'a> OutcomeMap<'a> {
    fn new(measures: &'a [(usize, usize)], words: usize) -> OutcomeMap<'a> {
        let mut tables = Vec::new();
        if words == 1 {
            // A clbit written twice keeps the later measurement, as in
            // `outcome_of`: only that one may set it.
            let mut last_writer = std::collections::HashMap::new();
            for (i, &(_, c)) in measures.iter().enumerate() {
                last_writer.insert(c, i);
            }
            let highest = measures.iter().map(|&(q, _)| q).max().unwrap_or(0);
            tables = vec![[0u64; 256]; highest / 8 + 1];
            for (i, &(q, c)) in measures.iter().enumerate() {
                if last_writer[&c] != i {
                    continue;
                }
                let table = &mut tables[q / 8];
                for (v, entry) in table.iter_mut().enumerate() {
                    if v >> (q % 8) & 1 == 1 {
                        *entry |= 1 << c;
                    }
                }
            }
        }
        OutcomeMap { measures, tables }
    }

    fn write(&self, index: u64, out: &mut [u64]) {
        if self.tables.is_empty() {
            outcome_of(index, self.measures, out);
            return;
        }
        out[0] = self
            .tables
            .iter()
            .enumerate()
            .fold(0, |acc, (b, t)| acc | t[(index >> (8 * b)) as usize & 0xff]);
    }
}

/// Counts distinct records (`words` u64 each) in `records`, each weighted
/// by `weights[i]` (or 1), returned in ascending order.
fn count_records(records: &[u64], words: usize, weights: Option<&[u64]>) -> (Vec<u64>, Vec<u64>) {
    let n = records.len() / words;
    if words == 1 {
        // Up to 64 clbits, the common case: sort (key, weight) pairs directly,
        // and not at all when they come sorted (every qubit measured in order).
        let mut pairs: Vec<(u64, u64)> = (0..n)
            .map(|i| (records[i], weights.map_or(1, |w| w[i])))
            .collect();
        if !pairs.is_sorted_by_key(|p| p.0) {
            pairs.sort_unstable_by_key(|p| p.0);
        }
        let mut keys: Vec<u64> = Vec::new();
        let mut values: Vec<u64> = Vec::new();
        for (k, w) in pairs {
            if keys.last() == Some(&k) {
                *values.last_mut().expect("values follows keys") += w;
            } else {
                keys.push(k);
                values.push(w);
            }
        }
        return (keys, values);
    }
    let key = |i: usize| &records[i * words..(i + 1) * words];
    let mut order: Vec<usize> = (0..n).collect();
    // Words are little endian: compare the most significant word first.
    order.sort_unstable_by(|&a, &b| key(a).iter().rev().cmp(key(b).iter().rev()));
    let mut keys = Vec::new();
    let mut values: Vec<u64> = Vec::new();
    for i in order {
        let w = weights.map_or(1, |w| w[i]);
        if !values.is_empty() && keys[keys.len() - words..] == *key(i) {
            *values.last_mut().expect("values is not empty") += w;
        } else {
            keys.extend_from_slice(key(i));
            values.push(w);
        }
    }
    (keys, values)
}

/// Fuses and blocks each segment of ops for a state of `num_qubits` in
/// `precision`, or keeps them one sweep each when fusion is off.
fn plan_ops(num_qubits: usize, precision: Precision, segments: Vec<Vec<Op>>, fusion: bool) -> Plan {
    let (fusion_cfg, block_cfg) = if fusion {
        let bytes = state::state_bytes(num_qubits, precision);
        (FusionConfig::default(), BlockConfig::for_state(bytes))
    } else {
        (FusionConfig::OFF, BlockConfig::OFF)
    };
    let mut plan = Plan::default();
    for ops in segments {
        let ops = ops.into_iter().map(|op| (op, 1)).collect();
        let part = Plan::new(num_qubits, fuse(ops, &fusion_cfg), &block_cfg);
        plan.stages.extend(part.stages);
    }
    plan
}

/// Runs `plan`, checking for cancellation before each stage, and reporting
/// each stage's gates as progress when `mode.gate_progress`. Returns the
/// units reported.
fn apply_plan<A: Amplitude>(
    plan: &Plan,
    amps: &mut [A],
    mode: Mode,
    monitor: &dyn Monitor,
) -> Result<u64> {
    if A::PRECISION != Precision::Double
        && !simd::available()
        && amps.len() <= 1 << BlockConfig::default().block_bits
    {
        // Without f32 kernels, a state that fits in one cache block is
        // widened once for the whole plan instead of once per stage.
        let mut wide: Vec<C64> = amps.iter().map(|a| a.widen()).collect();
        let reported = apply_plan(plan, &mut wide, mode, monitor);
        for (a, &z) in amps.iter_mut().zip(&wide) {
            *a = A::narrow(z);
        }
        return reported;
    }
    let mut reported = 0;
    for stage in &plan.stages {
        check(monitor)?;
        A::apply_stage(stage, amps, mode.kernels);
        if mode.gate_progress {
            monitor.advance(stage.units());
            reported += stage.units();
        }
    }
    Ok(reported)
}

fn global_phase_factor(circuit: &Circuit) -> Option<C64> {
    let phase = circuit.global_phase();
    (phase != 0.0).then(|| C64::from_polar(1.0, phase))
}

/// Runs one shot's `rest` on `amps`, writing clbits into `record`.
fn run_shot<A: Amplitude>(
    amps: &mut [A],
    rest: &[Step],
    rng: &mut SimRng,
    record: &mut [u64],
    parallel: bool,
    monitor: &dyn Monitor,
) -> Result<()> {
    for step in rest {
        if parallel {
            check(monitor)?;
        }
        match *step {
            Step::Gate(ref op) => A::apply_op(op, amps, parallel),
            Step::Barrier => {}
            Step::Measure { qubit, clbit } => {
                let one = measure_qubit(amps, qubit, rng, parallel);
                let (w, b) = (clbit / 64, clbit % 64);
                record[w] = (record[w] & !(1 << b)) | ((one as u64) << b);
            }
            Step::Reset { qubit } => {
                if measure_qubit(amps, qubit, rng, parallel) {
                    let flip = Op::Flip1 {
                        target: qubit,
                        p: [C64::new(1.0, 0.0); 2],
                        ctrl_mask: 0,
                    };
                    A::apply_op(&flip, amps, parallel);
                }
            }
        }
    }
    Ok(())
}

/// Measures `qubit`, collapsing the state; returns whether it read 1.
fn measure_qubit<A: Amplitude>(
    amps: &mut [A],
    qubit: usize,
    rng: &mut SimRng,
    parallel: bool,
) -> bool {
    let p1 = state::probability_one(amps, qubit, parallel);
    let one = rng::uniform(rng) < p1;
    let p = if one { p1 } else { 1.0 - p1 };
    state::collapse(amps, qubit, one, p, parallel);
    one
}

fn run_circuit(
    circuit: &Circuit,
    seed: u64,
    opts: &RunOptions,
    mode: Mode,
    monitor: &dyn Monitor,
) -> Result<ExperimentResult> {
    match opts.precision {
        Precision::Double => run_circuit_in::<C64>(circuit, seed, opts, mode, monitor),
        Precision::Single => run_circuit_in::<C32>(circuit, seed, opts, mode, monitor),
    }
}

fn run_circuit_in<A: Amplitude>(
    circuit: &Circuit,
    seed: u64,
    opts: &RunOptions,
    mode: Mode,
    monitor: &dyn Monitor,
) -> Result<ExperimentResult> {
    check(monitor)?;
    let start = Instant::now();
    let n = circuit.num_qubits();
    let words = words_for(circuit.num_clbits());
    let shots = opts.shots as usize;
    let program = compile(circuit)?;
    let per_shot_copies = match (&program, mode.shots) {
        (Program::Sampled { .. }, _) => 1,
        (Program::PerShot { .. }, false) => 2,
        (Program::PerShot { .. }, true) => 1 + rayon::current_num_threads(),
    };
    state::check_memory(n, A::PRECISION, per_shot_copies, opts.max_memory_bytes)?;
    if let Program::PerShot { saves, .. } = &program {
        // Shot by shot, a block of shots each holds its own saved values.
        let per_shot_saves: u128 = saves.iter().map(|s| save_bytes(s, n)).sum();
        let held = per_shot_saves.saturating_mul(SHOT_BLOCK.min(shots) as u128);
        let bytes = shot_bytes(opts.shots, words, opts.memory).saturating_add(held);
        check_output_memory(circuit, opts, bytes, per_shot_copies)?;
    }

    let mut result = ExperimentResult {
        name: circuit.name.clone(),
        num_qubits: n,
        num_clbits: circuit.num_clbits(),
        shots: opts.shots,
        seed,
        words,
        count_keys: Vec::new(),
        count_values: Vec::new(),
        memory: None,
        statevector: None,
        saved: Vec::new(),
        time_taken: 0.0,
    };

    let phase = global_phase_factor(circuit);
    let mut amps = state::ground_state::<A>(n)?;
    let mut reported = 0u64;
    match program {
        Program::Sampled {
            segments,
            measures,
            saves,
        } => {
            let plan = plan_ops(n, A::PRECISION, segments, opts.fusion);
            reported += apply_plan(&plan, &mut amps, mode, monitor)?;
            for spec in &saves {
                let value = compute_save(spec, &amps, phase, mode.kernels)?;
                result.saved.push((spec.label.clone(), value));
            }
            if circuit.num_clbits() > 0 {
                let mut rng = rng::rng_from_seed(seed);
                let mut samples = sample::sample_sorted(&amps, shots, &mut rng, mode.kernels);
                let outcomes = OutcomeMap::new(&measures, words);
                // Sorted samples group equal basis states: count runs, then
                // map each distinct state through the measurement map.
                let mut distinct = Vec::new();
                let mut weights = Vec::new();
                for &s in &samples {
                    if distinct.last() == Some(&s) {
                        *weights.last_mut().expect("weights follows distinct") += 1;
                    } else {
                        distinct.push(s);
                        weights.push(1u64);
                    }
                }
                let mut records = vec![0u64; distinct.len() * words];
                for (i, &s) in distinct.iter().enumerate() {
                    outcomes.write(s, &mut records[i * words..(i + 1) * words]);
                }
                (result.count_keys, result.count_values) =
                    count_records(&records, words, Some(&weights));
                if opts.memory {
                    sample::shuffle(&mut samples, &mut rng);
                    let mut memory = vec![0u64; shots * words];
                    for (i, &s) in samples.iter().enumerate() {
                        outcomes.write(s, &mut memory[i * words..(i + 1) * words]);
                    }
                    result.memory = Some(memory);
                }
            }
        }
        Program::PerShot {
            prefix,
            rest,
            saves,
        } => {
            if shots > 1
                && let Some(spec) = saves
                    .iter()
                    .find(|s| matches!(s.kind, SaveKind::Statevector | SaveKind::Amplitudes(_)))
            {
                return Err(Error::InvalidCircuit(format!(
                    "{} '{}' comes after a measurement or reset, so its state differs from shot \
                     to shot: run with shots=1, or save probabilities or expectation values \
                     (averaged over shots)",
                    spec.kind.name(),
                    spec.label
                )));
            }
            let plan = plan_ops(n, A::PRECISION, prefix, opts.fusion);
            reported += apply_plan(&plan, &mut amps, mode, monitor)?;
            type ShotOutcome<A> = (Vec<u64>, Option<Vec<A>>, Vec<SavedValue>);
            let shot = |s: usize, last: bool| -> Result<ShotOutcome<A>> {
                check(monitor)?;
                let mut work = state::try_clone(&amps, n)?;
                let mut record = vec![0u64; words];
                let mut rng = rng::rng_from_seed(rng::derive_seed(seed, s as u64));
                run_shot(
                    &mut work,
                    &rest,
                    &mut rng,
                    &mut record,
                    mode.kernels,
                    monitor,
                )?;
                let saved = saves
                    .iter()
                    .map(|spec| compute_save(spec, &work, phase, mode.kernels))
                    .collect::<Result<Vec<_>>>()?;
                Ok((record, last.then_some(work), saved))
            };
            let keep_last = opts.statevector;
            let mut saved_sum: Option<Vec<SavedValue>> = None;
            let mut memory = Vec::with_capacity(shots * words);
            let mut final_state = None;
            // Shots run a block at a time and their saves are summed as each
            // block ends: memory holds one block's saved values, not every
            // shot's, and the sum stays in shot order, so its bits do not
            // depend on the thread count.
            let block = if mode.shots { SHOT_BLOCK } else { 1 };
            for first in (0..shots).step_by(block) {
                let shots_here = first..(first + block).min(shots);
                let outcomes: Vec<ShotOutcome<A>> = if mode.shots {
                    shots_here
                        .into_par_iter()
                        .map(|s| shot(s, keep_last && s + 1 == shots))
                        .collect::<Result<_>>()?
                } else {
                    shots_here
                        .map(|s| shot(s, keep_last && s + 1 == shots))
                        .collect::<Result<_>>()?
                };
                for (record, st, saved) in outcomes {
                    memory.extend_from_slice(&record);
                    if st.is_some() {
                        final_state = st;
                    }
                    match saved_sum.as_mut() {
                        None => saved_sum = Some(saved),
                        Some(sum) => accumulate(sum, saved),
                    }
                }
            }
            if let Some(mut sum) = saved_sum {
                if shots > 1 {
                    scale_saved(&mut sum, 1.0 / shots as f64);
                }
                result.saved = saves.iter().map(|s| s.label.clone()).zip(sum).collect();
            }
            if circuit.num_clbits() > 0 {
                (result.count_keys, result.count_values) = count_records(&memory, words, None);
                if opts.memory {
                    result.memory = Some(memory);
                }
            }
            if let Some(st) = final_state {
                amps = st;
            }
        }
    }
    if opts.statevector {
        if let Some(f) = phase {
            state::scale(&mut amps, f, mode.kernels);
        }
        result.statevector = Some(A::into_state(amps));
    }
    monitor.advance(circuit_units(circuit).saturating_sub(reported));
    result.time_taken = start.elapsed().as_secs_f64();
    Ok(result)
}

/// Runs a batch. Circuits below the parallel threshold run whole on one
/// thread each, several at once; larger ones run one after another with their
/// kernels split over the threads. Circuit `i` gets seed
/// `derive_seed(run_seed, i)`, so its result does not depend on the batch
/// around it or on the thread count.
/// Fails with the first failing circuit's error; [`run_monitored`] keeps the
/// others' results.
pub fn run(circuits: &[Circuit], opts: &RunOptions) -> Result<RunResult> {
    validate(circuits, opts)?;
    let seed = opts.seed.unwrap_or_else(rng::random_seed);
    run_monitored(circuits, opts, seed, &Unmonitored)?.into_complete()
}

/// Checks options and memory for a batch, before any work.
pub fn validate(circuits: &[Circuit], opts: &RunOptions) -> Result<()> {
    opts.validate()?;
    for (i, c) in circuits.iter().enumerate() {
        let place =
            |e: Error| e.in_circuit(opts.first_index.wrapping_add(i as u64), c.name.as_deref());
        state::check_memory(c.num_qubits(), opts.precision, 1, opts.max_memory_bytes)
            .map_err(place)?;
        if c.num_clbits() > 0 {
            let bytes = shot_bytes(opts.shots, words_for(c.num_clbits()), opts.memory);
            check_output_memory(c, opts, bytes, 1).map_err(place)?;
        }
    }
    Ok(())
}

/// [`run`] with an explicit run seed, under `monitor`'s cancellation and
/// progress. The caller validates first ([`validate`]).
///
/// A circuit that fails (a panic included) does not stop the others: a batch
/// of thousands keeps every result it can, and [`RunResult::failed`] names
/// the ones it could not. Only cancellation ends the run early, as `Err`.
pub fn run_monitored(
    circuits: &[Circuit],
    opts: &RunOptions,
    seed: u64,
    monitor: &dyn Monitor,
) -> Result<RunResult> {
    let threads = opts.thread_count();
    let threaded = threads > 1;
    let small = |c: &Circuit| c.num_qubits() < opts.parallel_threshold;
    let n_small = circuits.iter().filter(|c| small(c)).count();
    let slots = match opts.max_parallel_experiments {
        0 => threads,
        k => k.min(threads),
    };
    let side_by_side = threaded && slots > 1 && n_small > 1;
    // A failure, a panic included, is reported as that circuit's, by its
    // place in the whole batch and its name.
    let run_one = |i: usize, c: &Circuit, mode: Mode| -> Result<ExperimentResult> {
        let index = opts.first_index.wrapping_add(i as u64);
        let seed = rng::derive_seed(seed, index);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_circuit(c, seed, opts, mode, monitor)
        }))
        .unwrap_or_else(|payload| Err(Error::from_panic(&*payload)))
        .map_err(|e| e.in_circuit(index, c.name.as_deref()))
    };
    // Ok(Err(e)) is a circuit's failure, kept; Err(Cancelled) stops the batch.
    let attempt = |i: usize, c: &Circuit, mode: Mode| -> Result<Result<ExperimentResult>> {
        match run_one(i, c, mode) {
            Err(Error::Cancelled) => Err(Error::Cancelled),
            other => Ok(other),
        }
    };
    let body = || -> Result<Vec<Option<Result<ExperimentResult>>>> {
        let mut out: Vec<Option<Result<ExperimentResult>>> = Vec::with_capacity(circuits.len());
        out.resize_with(circuits.len(), || None);
        if side_by_side {
            let whole_circuits = Mode {
                kernels: false,
                shots: false,
                gate_progress: false,
            };
            let all_small = || -> Result<Vec<(usize, Result<ExperimentResult>)>> {
                circuits
                    .par_iter()
                    .enumerate()
                    .filter(|(_, c)| small(c))
                    .map(|(i, c)| Ok((i, attempt(i, c, whole_circuits)?)))
                    .collect()
            };
            // Fewer slots than threads: a pool that size bounds how many run at once.
            let done = if slots < threads {
                parallel::pool(slots).install(all_small)?
            } else {
                all_small()?
            };
            for (i, r) in done {
                out[i] = Some(r);
            }
        }
        for (i, c) in circuits.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            let mode = if small(c) {
                Mode {
                    kernels: false,
                    shots: threaded,
                    gate_progress: true,
                }
            } else {
                Mode {
                    kernels: threaded,
                    shots: false,
                    gate_progress: true,
                }
            };
            out[i] = Some(attempt(i, c, mode)?);
        }
        Ok(out)
    };
    // One thread: nothing runs in parallel, so skip the hand-off to the pool.
    let outcomes = if threaded {
        parallel::pool(threads).install(body)?
    } else {
        body()?
    };
    let mut experiments = Vec::with_capacity(outcomes.len());
    let mut failed = Vec::new();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Some(Ok(r)) => experiments.push(r),
            Some(Err(e)) => failed.push((i, e)),
            // Every slot is filled above, or `?` has already returned.
            None => failed.push((i, Error::Internal(format!("circuit {i} did not run")))),
        }
    }
    Ok(RunResult {
        seed,
        experiments,
        parallel_experiments: if side_by_side { slots.min(n_small) } else { 1 },
        failed,
    })
}

/// Refuses circuits that measure or reset, for callers that want a pure state.
pub fn require_unitary(circuit: &Circuit) -> Result<()> {
    if circuit.has_non_unitary() {
        return Err(Error::InvalidCircuit(
            "statevector() needs a circuit without measure or reset; \
             use Simulator.run(..., statevector=True)"
                .into(),
        ));
    }
    Ok(())
}

/// The final state of a circuit without measurement or reset, from |0...0>,
/// global phase included.
pub fn statevector(circuit: &Circuit, opts: &RunOptions) -> Result<StateVector> {
    require_unitary(circuit)?;
    opts.validate()?;
    let n = circuit.num_qubits();
    state::check_memory(n, opts.precision, 1, opts.max_memory_bytes)?;
    let threads = opts.thread_count();
    let parallel = threads > 1 && n >= opts.parallel_threshold;
    let run = || match opts.precision {
        Precision::Double => final_state::<C64>(circuit, opts.fusion, parallel),
        Precision::Single => final_state::<C32>(circuit, opts.fusion, parallel),
    };
    if parallel {
        parallel::pool(threads).install(run)
    } else {
        run()
    }
}

fn final_state<A: Amplitude>(
    circuit: &Circuit,
    fusion: bool,
    parallel: bool,
) -> Result<StateVector> {
    let n = circuit.num_qubits();
    let Program::Sampled { segments, .. } = compile(circuit)? else {
        unreachable!("a circuit without measure or reset compiles to Sampled")
    };
    let mut amps = state::ground_state::<A>(n)?;
    let mode = Mode {
        kernels: parallel,
        shots: false,
        gate_progress: false,
    };
    apply_plan(
        &plan_ops(n, A::PRECISION, segments, fusion),
        &mut amps,
        mode,
        &Unmonitored,
    )?;
    if let Some(f) = global_phase_factor(circuit) {
        state::scale(&mut amps, f, parallel);
    }
    Ok(A::into_state(amps))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn outcome_tables_agree_with_the_bit_by_bit_map() {
        let mut next = crate::testing::uniform_stream(5);
        let mut pick = |bound: usize| (next() * bound as f64) as usize % bound;
        for case in 0..200 {
            let qubits = 1 + case % 40;
            let clbits = 1 + pick(if case % 3 == 0 { 130 } else { 64 });
            let words = words_for(clbits);
            // Random maps: qubits measured twice, clbits written twice (the
            // later write wins), some clbits never written.
            let measures: Vec<(usize, usize)> = (0..1 + pick(2 * qubits))
                .map(|_| (pick(qubits), pick(clbits)))
                .collect();
            let map = OutcomeMap::new(&measures, words);
            assert_eq!(map.tables.is_empty(), words > 1);
            for _ in 0..50 {
                let index = (pick(1 << 20) as u64) << pick(qubits.saturating_sub(19).max(1))
                    | pick(1 << 20) as u64;
                let index = index & ((1u64 << qubits) - 1);
                let (mut want, mut got) = (vec![0u64; words], vec![7u64; words]);
                outcome_of(index, &measures, &mut want);
                map.write(index, &mut got);
                assert_eq!(got, want, "{measures:?} index {index:b}");
            }
        }
    }

    #[test]
    fn shots_that_cannot_fit_are_refused_before_running() {
        let mut c = Circuit::new(1, 1);
        c.measure(0, 0).unwrap();
        let limited = RunOptions {
            shots: 1 << 30,
            max_memory_bytes: Some(1 << 30),
            ..RunOptions::default()
        };
        let err = validate(std::slice::from_ref(&c), &limited).unwrap_err();
        assert!(
            matches!(err.root(), Error::OutputTooLarge { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("1073741824 shots of 1 clbits"),
            "{err}"
        );
        // Per-shot memory needs more again.
        let fits = RunOptions {
            shots: 1 << 24,
            ..limited.clone()
        };
        assert!(validate(std::slice::from_ref(&c), &fits).is_ok());
        let with_memory = RunOptions {
            memory: true,
            shots: 1 << 25,
            ..limited
        };
        assert!(validate(std::slice::from_ref(&c), &with_memory).is_err());
        // With no limit set, available memory bounds it.
        let huge = RunOptions {
            shots: 1 << 50,
            ..RunOptions::default()
        };
        assert!(validate(&[c], &huge).is_err());
    }

    #[test]
    fn saves_taken_shot_by_shot_are_counted_against_the_limit() {
        // A gate after a measurement makes the circuit run shot by shot; each shot in a block
        // holds its own 2^12-entry probabilities.
        let mut c = Circuit::new(12, 1);
        c.append_gate("h", &[0], &[]).unwrap();
        c.measure(0, 0).unwrap();
        c.append_gate("h", &[0], &[]).unwrap();
        c.save("probabilities", "p", &[], &[], &[]).unwrap();
        c.measure(0, 0).unwrap();
        let opts = RunOptions {
            shots: 1000,
            max_memory_bytes: Some(1 << 20),
            ..RunOptions::default()
        };
        let Err(err) = run(std::slice::from_ref(&c), &opts) else {
            panic!("a run over the limit succeeded");
        };
        assert!(matches!(err.root(), Error::OutputTooLarge { .. }), "{err}");
        let roomy = RunOptions {
            max_memory_bytes: Some(1 << 26),
            ..opts
        };
        let r = run(&[c], &roomy).unwrap();
        let SavedValue::Probabilities(p) = &r.experiments[0].saved[0].1 else {
            panic!("probabilities")
        };
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    /// A measured Bell circuit, shared with the other modules' tests.
    pub(crate) fn bell() -> Circuit {
        let mut c = Circuit::new(2, 2);
        c.append_gate("h", &[0], &[]).unwrap();
        c.append_gate("cx", &[0, 1], &[]).unwrap();
        c.measure(0, 0).unwrap();
        c.measure(1, 1).unwrap();
        c
    }

    fn counts(r: &ExperimentResult) -> Vec<(String, u64)> {
        (0..r.num_distinct())
            .map(|i| {
                (
                    format_bits(&r.count_keys[i * r.words..(i + 1) * r.words], r.num_clbits),
                    r.count_values[i],
                )
            })
            .collect()
    }

    #[test]
    fn bell_state_gives_only_correlated_outcomes() {
        let opts = RunOptions {
            shots: 4000,
            seed: Some(1),
            memory: true,
            ..Default::default()
        };
        let r = run(&[bell()], &opts).unwrap();
        let c = counts(&r.experiments[0]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].0, "00");
        assert_eq!(c[1].0, "11");
        assert_eq!(c[0].1 + c[1].1, 4000);
        assert!((c[0].1 as i64 - 2000).abs() < 200);
        assert_eq!(r.experiments[0].memory.as_ref().unwrap().len(), 4000);
    }

    #[test]
    fn mid_circuit_measurement_and_reset() {
        // h; measure -> c0; reset; x; measure -> c1: c1 is always 1.
        let mut c = Circuit::new(1, 2);
        c.append_gate("h", &[0], &[]).unwrap();
        c.measure(0, 0).unwrap();
        c.reset(0).unwrap();
        c.append_gate("x", &[0], &[]).unwrap();
        c.measure(0, 1).unwrap();
        for threads in [1, 3] {
            let opts = RunOptions {
                shots: 500,
                seed: Some(9),
                threads,
                ..Default::default()
            };
            let r = run(std::slice::from_ref(&c), &opts).unwrap();
            let got = counts(&r.experiments[0]);
            assert!(got.iter().all(|(k, _)| k.starts_with('1')), "{got:?}");
            assert_eq!(got.len(), 2);
        }
    }

    #[test]
    fn same_seed_same_result_for_any_thread_count_or_threshold() {
        let mut mid = bell();
        mid.append_gate("ry", &[0], &[0.3]).unwrap();
        mid.measure(0, 0).unwrap();
        let circuits = vec![bell(), mid.clone(), bell(), mid];
        let base = RunOptions {
            shots: 300,
            seed: Some(42),
            memory: true,
            threads: 1,
            ..Default::default()
        };
        let reference = run(&circuits, &base).unwrap();
        for threads in [2, 4] {
            for parallel_threshold in [1, 14] {
                let opts = RunOptions {
                    threads,
                    parallel_threshold,
                    ..base.clone()
                };
                let mut got = run(&circuits, &opts).unwrap();
                for (g, r) in got.experiments.iter_mut().zip(&reference.experiments) {
                    g.time_taken = r.time_taken;
                }
                // How many ran side by side depends on the threads; nothing else may.
                got.parallel_experiments = reference.parallel_experiments;
                assert_eq!(got, reference);
            }
        }
    }

    #[test]
    fn a_batch_run_in_chunks_samples_as_the_whole_batch() {
        let mut mid = bell();
        mid.append_gate("ry", &[0], &[0.3]).unwrap();
        mid.measure(0, 0).unwrap();
        let circuits = vec![bell(), mid.clone(), bell(), mid.clone(), bell()];
        let opts = RunOptions {
            shots: 200,
            seed: Some(7),
            memory: true,
            threads: 2,
            ..Default::default()
        };
        let whole = run(&circuits, &opts).unwrap();
        for chunk in [1, 2, 3] {
            let mut pieces = Vec::new();
            for (k, part) in circuits.chunks(chunk).enumerate() {
                let opts = RunOptions {
                    first_index: (k * chunk) as u64,
                    ..opts.clone()
                };
                pieces.extend(run(part, &opts).unwrap().experiments);
            }
            for (g, w) in pieces.iter_mut().zip(&whole.experiments) {
                g.time_taken = w.time_taken;
            }
            assert_eq!(pieces, whole.experiments, "chunks of {chunk}");
        }
        // Without the offset the chunks would repeat the first seeds.
        let second_alone = run(&circuits[1..2], &opts).unwrap();
        assert_ne!(second_alone.experiments[0].seed, whole.experiments[1].seed);
    }

    #[test]
    fn a_failing_circuit_is_named_by_its_place_in_the_batch() {
        let mut named = Circuit::new(30, 0);
        named.name = Some("big".into());
        let circuits = [bell(), bell(), named];
        let opts = RunOptions {
            max_memory_bytes: Some(1 << 20),
            first_index: 10,
            ..RunOptions::default()
        };
        let err = run(&circuits, &opts).unwrap_err();
        assert!(matches!(err, Error::InCircuit { index: 12, .. }), "{err:?}");
        assert!(matches!(err.root(), Error::StateTooLarge { .. }));
        assert!(
            err.to_string()
                .starts_with("circuit 12 (\"big\"): a 30-qubit"),
            "{err}"
        );
        // A run-time failure (a save placed where it cannot be honoured) too.
        let mut late = Circuit::new(1, 0);
        late.save("statevector", "sv", &[], &[], &[]).unwrap();
        late.append_gate("x", &[0], &[]).unwrap();
        let err = run(&[bell(), late], &RunOptions::default()).unwrap_err();
        assert!(err.to_string().starts_with("circuit 1: "), "{err}");
        assert_eq!(Error::Cancelled.in_circuit(3, None), Error::Cancelled);
    }

    #[test]
    fn state_too_large_is_refused_at_once() {
        let c = Circuit::new(40, 0);
        let t = Instant::now();
        assert!(matches!(
            run(&[c], &RunOptions::default()).map_err(|e| e.root().clone()),
            Err(Error::StateTooLarge { .. })
        ));
        // Refused before any allocation: no 16 TiB zeroing (a generous "did not hang").
        assert!(t.elapsed().as_secs_f64() < 10.0);
    }

    #[test]
    fn statevector_refuses_measurement() {
        assert!(matches!(
            statevector(&bell(), &RunOptions::default()),
            Err(Error::InvalidCircuit(_))
        ));
    }

    fn saved(r: &RunResult, label: &str) -> SavedValue {
        r.experiments[0]
            .saved
            .iter()
            .find(|(l, _)| l == label)
            .unwrap()
            .1
            .clone()
    }

    #[test]
    fn saves_are_computed_from_the_final_state() {
        let c1 = C64::new(1.0, 0.0);
        // |+i> on qubit 0 (h, s), Bell-like |00>+|11> on qubits 1, 2.
        let mut c = Circuit::new(3, 0);
        c.append_gate("h", &[0], &[]).unwrap();
        c.append_gate("s", &[0], &[]).unwrap();
        c.append_gate("h", &[1], &[]).unwrap();
        c.append_gate("cx", &[1, 2], &[]).unwrap();
        c.set_global_phase(0.5).unwrap();
        let terms = |v: &[(&str, f64)]| {
            v.iter()
                .map(|(p, w)| (p.to_string(), c1 * *w))
                .collect::<Vec<_>>()
        };
        c.save("expectation_value", "y0", &[0], &[], &terms(&[("Y", 1.0)]))
            .unwrap();
        c.save(
            "expectation_value",
            "zz",
            &[1, 2],
            &[],
            &terms(&[("ZZ", 2.0), ("XX", 0.5), ("ZI", 1.0)]),
        )
        .unwrap();
        c.save("probabilities", "p12", &[1, 2], &[], &[]).unwrap();
        c.save("amplitudes", "amp", &[], &[0, 6], &[]).unwrap();
        c.save("statevector", "sv", &[], &[], &[]).unwrap();
        let r = run(
            &[c],
            &RunOptions {
                shots: 10,
                ..Default::default()
            },
        )
        .unwrap();
        let close = |a: C64, b: C64| (a - b).norm() < 1e-12;
        let SavedValue::ExpectationValue(y) = saved(&r, "y0") else {
            panic!()
        };
        assert!(close(y, c1));
        let SavedValue::ExpectationValue(zz) = saved(&r, "zz") else {
            panic!()
        };
        assert!(close(zz, c1 * 2.5), "{zz}");
        let SavedValue::Probabilities(p) = saved(&r, "p12") else {
            panic!()
        };
        assert!((p[0] - 0.5).abs() < 1e-12 && (p[3] - 0.5).abs() < 1e-12 && p[1] == 0.0);
        let SavedValue::Amplitudes(a) = saved(&r, "amp") else {
            panic!()
        };
        assert!(close(a[0], C64::from_polar(0.5, 0.5)));
        let SavedValue::Statevector(StateVector::Double(sv)) = saved(&r, "sv") else {
            panic!()
        };
        assert!(close(sv[0], a[0]) && close(sv[6], a[1]));
    }

    #[test]
    fn saves_after_measurement_average_over_shots() {
        let mut c = Circuit::new(1, 1);
        c.append_gate("h", &[0], &[]).unwrap();
        c.measure(0, 0).unwrap();
        c.save("probabilities", "p", &[], &[], &[]).unwrap();
        let r = run(
            std::slice::from_ref(&c),
            &RunOptions {
                shots: 4000,
                seed: Some(5),
                ..Default::default()
            },
        )
        .unwrap();
        let SavedValue::Probabilities(p) = saved(&r, "p") else {
            panic!()
        };
        assert!((p[0] - 0.5).abs() < 0.05 && (p[0] + p[1] - 1.0).abs() < 1e-12);
        c.save("statevector", "sv", &[], &[], &[]).unwrap();
        assert!(matches!(
            run(&[c], &RunOptions::default()).map_err(|e| e.root().clone()),
            Err(Error::InvalidCircuit(_))
        ));
        let mut late = Circuit::new(1, 0);
        late.save("statevector", "sv", &[], &[], &[]).unwrap();
        late.append_gate("x", &[0], &[]).unwrap();
        assert!(matches!(
            run(&[late], &RunOptions::default()).map_err(|e| e.root().clone()),
            Err(Error::InvalidCircuit(_))
        ));
    }

    #[test]
    fn max_parallel_experiments_bounds_side_by_side_runs_not_results() {
        let mut circuits = Vec::new();
        for k in 0..9 {
            let mut c = Circuit::new(4, 4);
            c.append_gate("h", &[0], &[]).unwrap();
            c.append_gate("ry", &[1], &[0.1 * k as f64]).unwrap();
            c.append_gate("cx", &[0, 2], &[]).unwrap();
            for q in 0..4 {
                c.measure(q, q).unwrap();
            }
            circuits.push(c);
        }
        let run_with = |threads: usize, slots: usize| {
            let opts = RunOptions {
                shots: 500,
                seed: Some(3),
                threads,
                max_parallel_experiments: slots,
                ..RunOptions::default()
            };
            run(&circuits, &opts).unwrap()
        };
        let reference = run_with(1, 0);
        assert_eq!(reference.parallel_experiments, 1);
        for (threads, slots, side_by_side) in [
            (2, 0, 2),
            (2, 1, 1),
            (2, 2, 2),
            (2, 7, 2),
            (3, 2, 2),
            (4, 0, 4),
        ] {
            let r = run_with(threads, slots);
            assert_eq!(
                r.parallel_experiments, side_by_side,
                "{threads} threads, {slots} slots"
            );
            for (a, b) in r.experiments.iter().zip(&reference.experiments) {
                assert_eq!(a.count_keys, b.count_keys);
                assert_eq!(a.count_values, b.count_values);
            }
        }
    }

    #[test]
    fn write_hex_matches_python_hex() {
        let mut out = String::new();
        let cases: [(&[u64], &str); 6] = [
            (&[0], "0x0"),
            (&[0, 0], "0x0"),
            (&[0xa5], "0xa5"),
            (&[1, 1], "0x10000000000000001"),
            (&[0, 0x3], "0x30000000000000000"),
            (&[u64::MAX, 0, 0], "0xffffffffffffffff"),
        ];
        for (words, want) in cases {
            write_hex(words, &mut out);
            assert_eq!(out, want, "{words:?}");
        }
        // Random two-word keys against u128 formatting.
        let mut x: u64 = 12345;
        for _ in 0..1000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (lo, hi) = (x, x.rotate_left(17) >> (x % 64));
            write_hex(&[lo, hi], &mut out);
            assert_eq!(
                out,
                format!("{:#x}", (u128::from(hi) << 64) | u128::from(lo))
            );
        }
    }

    #[test]
    fn format_bits_puts_clbit_zero_rightmost() {
        assert_eq!(format_bits(&[0b011], 4), "0011");
        assert_eq!(format_bits(&[1, 1], 66), format!("01{}1", "0".repeat(63)));
    }
}
