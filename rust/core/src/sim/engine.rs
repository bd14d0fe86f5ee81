//! Running circuits: compile once, simulate, sample, and spread the work over
//! threads without ever nesting two levels of parallelism.

use crate::circuit::SaveMode;
use crate::circuit::{Circuit, SaveKind};
use crate::error::{Error, Result};
use crate::sim::compile::{GatePart, Program, Step, compile};
use crate::sim::fusion::{FusionConfig, fuse};
use crate::sim::kernels::Op;
pub use crate::sim::options::{DEFAULT_PARALLEL_THRESHOLD, RunOptions};
use crate::sim::outcomes::{
    OutcomeMap, SHOT_BLOCK, check_output_memory, count_records, shot_bytes, words_for,
};
use crate::sim::parallel;
use crate::sim::plan::{BlockConfig, Plan};
use crate::sim::precision::{Amplitude, Precision, StateVector};
pub use crate::sim::result::{ExperimentResult, FusionStats, RunResult, SavedValue};
use crate::sim::rng::{self, SimRng};
use crate::sim::sample;
use crate::sim::saves::{
    Gather, SaveSpec, compute_save, gathered_bytes, gathered_once, save_bytes,
};
use crate::sim::simd;
use crate::sim::state;
use num_complex::{Complex32 as C32, Complex64 as C64};
use rayon::prelude::*;
use std::time::Instant;

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

/// Fuses and blocks each segment of ops for a state of `num_qubits` in
/// `precision`, or keeps them one sweep each when `fusion` is `None`.
fn plan_ops(
    num_qubits: usize,
    precision: Precision,
    segments: Vec<Vec<Op>>,
    fusion: Option<FusionConfig>,
    stats: &mut FusionStats,
) -> Plan {
    let (fusion_cfg, block_cfg) = match fusion {
        Some(cfg) => {
            let bytes = state::state_bytes(num_qubits, precision);
            (cfg, BlockConfig::for_state(bytes))
        }
        None => (FusionConfig::OFF, BlockConfig::OFF),
    };
    let mut plan = Plan::default();
    for ops in segments {
        stats.gates += ops.len() as u64;
        let ops = ops.into_iter().map(|op| (op, 1)).collect();
        let fused = fuse(ops, &fusion_cfg);
        stats.ops += fused.len() as u64;
        let part = Plan::new(num_qubits, fused, &block_cfg);
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

/// Runs the gates of `part` on `amps`, planned (fused and blocked) between
/// its saves, and appends each save, taken where it stands, to `saved`,
/// gathered for `(shots, words)` as its mode says (every shot has that value
/// there, with every clbit 0). Returns the progress units reported.
#[allow(clippy::too_many_arguments)]
fn run_gate_part<A: Amplitude>(
    amps: &mut [A],
    part: GatePart,
    fusion: Option<FusionConfig>,
    mode: Mode,
    monitor: &dyn Monitor,
    phase: Option<C64>,
    saved: &mut Vec<(String, SavedValue)>,
    (shots, words): (usize, usize),
    stats: &mut FusionStats,
) -> Result<u64> {
    let num_qubits = amps.len().trailing_zeros() as usize;
    let mut segments = part.segments.into_iter();
    let mut done = 0;
    let mut reported = 0;
    for (before, spec) in part.saves {
        let run: Vec<Vec<Op>> = segments.by_ref().take(before - done).collect();
        done = before;
        let plan = plan_ops(num_qubits, A::PRECISION, run, fusion, stats);
        reported += apply_plan(&plan, amps, mode, monitor)?;
        let value = compute_save(&spec, amps, phase, mode.kernels)?;
        let value = gathered_once(&spec, value, shots, words);
        saved.push((spec.label, value));
    }
    let plan = plan_ops(num_qubits, A::PRECISION, segments.collect(), fusion, stats);
    reported += apply_plan(&plan, amps, mode, monitor)?;
    Ok(reported)
}

fn global_phase_factor(circuit: &Circuit) -> Option<C64> {
    let phase = circuit.global_phase();
    (phase != 0.0).then(|| C64::from_polar(1.0, phase))
}

/// How a block of steps ended: normally, or at a `break` or `continue` that
/// its loop acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// One shot's state: its amplitudes, random stream and classical record, and
/// the values of the saves it has met (in program order).
struct Shot<'a, A> {
    amps: &'a mut [A],
    rng: &'a mut SimRng,
    record: &'a mut [u64],
    saved: &'a mut Vec<(SavedValue, Vec<u64>)>,
    phase: Option<C64>,
    parallel: bool,
    monitor: &'a dyn Monitor,
}

/// Runs one shot's `rest` on `amps`, writing clbits into `record` and each
/// save's value, taken where it stands, into `saved`.
#[allow(clippy::too_many_arguments)]
fn run_shot<A: Amplitude>(
    amps: &mut [A],
    rest: &[Step],
    rng: &mut SimRng,
    record: &mut [u64],
    saved: &mut Vec<(SavedValue, Vec<u64>)>,
    phase: Option<C64>,
    parallel: bool,
    monitor: &dyn Monitor,
) -> Result<()> {
    let mut shot = Shot {
        amps,
        rng,
        record,
        saved,
        phase,
        parallel,
        monitor,
    };
    // compile refuses a break or continue outside a loop.
    shot.run(rest).map(|_| ())
}

impl<A: Amplitude> Shot<'_, A> {
    fn run(&mut self, steps: &[Step]) -> Result<Flow> {
        for step in steps {
            if self.parallel {
                check(self.monitor)?;
            }
            match step {
                Step::Gate(op) => A::apply_op(op, self.amps, self.parallel),
                Step::Barrier => {}
                // Where it stands: a later measurement must not change it.
                Step::Save(spec) => {
                    let value = compute_save(spec, self.amps, self.phase, self.parallel)?;
                    let memory = match spec.mode {
                        SaveMode::Conditional | SaveMode::ConditionalPerShot => {
                            self.record.to_vec()
                        }
                        SaveMode::Average | SaveMode::Single | SaveMode::PerShot => Vec::new(),
                    };
                    self.saved.push((value, memory));
                }
                Step::Store { targets, value } => {
                    let v = value.eval(self.record);
                    // One clbit takes whether the value is non-zero.
                    let v = if targets.len() == 1 {
                        (v != 0) as u64
                    } else {
                        v
                    };
                    for (j, &clbit) in targets.iter().enumerate() {
                        let (w, b) = (clbit / 64, clbit % 64);
                        let bit = (v >> j) & 1;
                        self.record[w] = (self.record[w] & !(1 << b)) | (bit << b);
                    }
                }
                Step::Measure { qubit, clbit } => {
                    let one = measure_qubit(self.amps, *qubit, self.rng, self.parallel);
                    let (w, b) = (clbit / 64, clbit % 64);
                    self.record[w] = (self.record[w] & !(1 << b)) | ((one as u64) << b);
                }
                Step::Reset { qubit } => {
                    if measure_qubit(self.amps, *qubit, self.rng, self.parallel) {
                        let flip = Op::Flip1 {
                            target: *qubit,
                            p: [C64::new(1.0, 0.0); 2],
                            ctrl_mask: 0,
                        };
                        A::apply_op(&flip, self.amps, self.parallel);
                    }
                }
                Step::If {
                    condition,
                    then_steps,
                    else_steps,
                } => {
                    let branch = if condition.eval(self.record) != 0 {
                        then_steps
                    } else {
                        else_steps
                    };
                    match self.run(branch)? {
                        Flow::Normal => {}
                        flow => return Ok(flow),
                    }
                }
                Step::While { condition, body } => {
                    while condition.eval(self.record) != 0 {
                        // A loop that never ends is the user's; it still stops
                        // when the job is cancelled.
                        check(self.monitor)?;
                        if self.run(body)? == Flow::Break {
                            break;
                        }
                    }
                }
                Step::Switch {
                    target,
                    cases,
                    default,
                } => {
                    let value = target.eval(self.record);
                    let body = cases
                        .iter()
                        .find(|(values, _)| values.contains(&value))
                        .map_or(default, |(_, b)| b);
                    match self.run(body)? {
                        Flow::Normal => {}
                        flow => return Ok(flow),
                    }
                }
                Step::Break => return Ok(Flow::Break),
                Step::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }
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

/// One circuit's run: what every stage of it needs.
struct CircuitRun<'a> {
    circuit: &'a Circuit,
    seed: u64,
    opts: &'a RunOptions,
    mode: Mode,
    monitor: &'a dyn Monitor,
    /// The circuit's global phase, applied to what is handed out.
    phase: Option<C64>,
    words: usize,
}

/// One shot's outcome record, its final state when kept, and its saved values.
/// A shot's record, its final state when kept, and each save's value with
/// the shot's memory at it (empty unless the save is conditional).
type ShotOutcome<A> = (Vec<u64>, Option<Vec<A>>, Vec<(SavedValue, Vec<u64>)>);

fn run_circuit_in<A: Amplitude>(
    circuit: &Circuit,
    seed: u64,
    opts: &RunOptions,
    mode: Mode,
    monitor: &dyn Monitor,
) -> Result<ExperimentResult> {
    check(monitor)?;
    let start = Instant::now();
    let program = compile(circuit)?;
    let run = CircuitRun {
        circuit,
        seed,
        opts,
        mode,
        monitor,
        phase: global_phase_factor(circuit),
        words: words_for(circuit.num_clbits()),
    };
    run.check_memory::<A>(&program)?;
    let mut result = ExperimentResult {
        name: circuit.name.clone(),
        num_qubits: circuit.num_qubits(),
        num_clbits: circuit.num_clbits(),
        shots: opts.shots,
        seed,
        words: run.words,
        count_keys: Vec::new(),
        count_values: Vec::new(),
        memory: None,
        statevector: None,
        saved: Vec::new(),
        time_taken: 0.0,
        fusion: None,
    };
    let mut amps = state::initial_state::<A>(circuit.num_qubits(), program.initial())?;
    let reported = match program {
        Program::Sampled {
            gates, measures, ..
        } => run.sampled(&mut amps, gates, &measures, &mut result)?,
        Program::PerShot {
            prefix,
            rest,
            saves,
            ..
        } => run.per_shot(&mut amps, prefix, &rest, &saves, &mut result)?,
    };
    if opts.statevector {
        if let Some(f) = run.phase {
            state::scale(&mut amps, f, mode.kernels);
        }
        result.statevector = Some(A::into_state(amps));
    }
    monitor.advance(circuit_units(circuit).saturating_sub(reported));
    result.time_taken = start.elapsed().as_secs_f64();
    Ok(result)
}

impl CircuitRun<'_> {
    fn shots(&self) -> usize {
        self.opts.shots as usize
    }

    /// Refuses, before anything is allocated, a circuit whose states, shots
    /// and saved values would not fit in the memory limit.
    fn check_memory<A: Amplitude>(&self, program: &Program) -> Result<()> {
        let n = self.circuit.num_qubits();
        let per_shot_copies = match (program, self.mode.shots) {
            (Program::Sampled { .. }, _) => 1,
            (Program::PerShot { .. }, false) => 2,
            (Program::PerShot { .. }, true) => 1 + rayon::current_num_threads(),
        };
        state::check_memory(n, A::PRECISION, per_shot_copies, self.opts.max_memory_bytes)?;
        // Saves gathered per shot or per memory hold many values at the end.
        let all_saves = match program {
            Program::Sampled { gates, .. } => {
                gates.saves.iter().map(|(_, s)| s).collect::<Vec<_>>()
            }
            Program::PerShot { prefix, saves, .. } => {
                prefix.saves.iter().map(|(_, s)| s).chain(saves).collect()
            }
        };
        let gathered: u128 = all_saves
            .iter()
            .filter(|s| s.mode != SaveMode::Average)
            .map(|s| gathered_bytes(s, n, self.opts.shots, self.circuit.num_clbits()))
            .fold(0, u128::saturating_add);
        if let Program::Sampled { .. } = program
            && (self.circuit.num_clbits() > 0 || gathered > 0)
        {
            let bytes =
                shot_bytes(self.opts.shots, self.words, self.opts.memory).saturating_add(gathered);
            check_output_memory(self.circuit, self.opts, bytes, 1)?;
        }
        if let Program::PerShot { saves, .. } = program {
            // Shot by shot, a block of shots each holds its own saved values.
            let per_shot_saves: u128 = saves.iter().map(|s| save_bytes(s, n)).sum();
            let held = per_shot_saves.saturating_mul(SHOT_BLOCK.min(self.shots()) as u128);
            let bytes = shot_bytes(self.opts.shots, self.words, self.opts.memory)
                .saturating_add(held)
                .saturating_add(gathered);
            check_output_memory(self.circuit, self.opts, bytes, per_shot_copies)?;
        }
        Ok(())
    }

    /// Runs `part`'s gates on `amps`, taking each save where it stands into
    /// `result`. Returns the progress units reported.
    fn run_part<A: Amplitude>(
        &self,
        amps: &mut [A],
        part: GatePart,
        result: &mut ExperimentResult,
    ) -> Result<u64> {
        run_gate_part(
            amps,
            part,
            self.opts.fusion_for(self.circuit.num_qubits()),
            self.mode,
            self.monitor,
            self.phase,
            &mut result.saved,
            (self.shots(), self.words),
            result.fusion.get_or_insert_default(),
        )
    }

    /// Every measurement terminal: simulates once, taking the saves where
    /// they stand, then samples every shot from the final state. Returns the
    /// progress units reported.
    fn sampled<A: Amplitude>(
        &self,
        amps: &mut [A],
        gates: GatePart,
        measures: &[(usize, usize)],
        result: &mut ExperimentResult,
    ) -> Result<u64> {
        let reported = self.run_part(amps, gates, result)?;
        if self.circuit.num_clbits() > 0 {
            self.sample(amps, measures, result)?;
        }
        Ok(reported)
    }

    /// Draws the shots from the final state and maps them through the
    /// measurement map into counts (and memory, in a shuffled shot order).
    fn sample<A: Amplitude>(
        &self,
        amps: &[A],
        measures: &[(usize, usize)],
        result: &mut ExperimentResult,
    ) -> Result<()> {
        let (shots, words) = (self.shots(), self.words);
        let mut rng = rng::rng_from_seed(self.seed);
        let mut samples = sample::sample_sorted(amps, shots, &mut rng, self.mode.kernels)?;
        let outcomes = OutcomeMap::new(measures, words);
        // Sorted samples group equal basis states: count runs, then map each
        // distinct state through the measurement map.
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
        (result.count_keys, result.count_values) = count_records(&records, words, Some(&weights));
        if self.opts.memory {
            sample::shuffle(&mut samples, &mut rng);
            let mut memory = vec![0u64; shots * words];
            for (i, &s) in samples.iter().enumerate() {
                outcomes.write(s, &mut memory[i * words..(i + 1) * words]);
            }
            result.memory = Some(memory);
        }
        Ok(())
    }

    /// Mid-circuit measurement or reset: runs `prefix` once (its saves taken
    /// where they stand), then `rest` and the later saves shot by shot, each
    /// shot on a copy of the prefix's state; those saves are averaged over the
    /// shots. Leaves the last shot's state in `amps` when the statevector is
    /// kept. Returns the progress units reported.
    fn per_shot<A: Amplitude>(
        &self,
        amps: &mut Vec<A>,
        prefix: GatePart,
        rest: &[Step],
        saves: &[SaveSpec],
        result: &mut ExperimentResult,
    ) -> Result<u64> {
        let shots = self.shots();
        if shots > 1
            && let Some(spec) = saves.iter().find(|s| {
                s.mode == SaveMode::Average
                    && matches!(s.kind, SaveKind::Statevector | SaveKind::Amplitudes(_))
            })
        {
            return Err(Error::InvalidCircuit(format!(
                "{} '{}' comes after a measurement or reset, so its state differs from shot \
                 to shot: run with shots=1, save it per shot or per memory (pershot=True or \
                 conditional=True), or save probabilities or expectation values (averaged \
                 over shots)",
                spec.kind.name(),
                spec.label
            )));
        }
        let reported = self.run_part(amps, prefix, result)?;
        let (memory, gathered, final_state) = self.run_shots(amps, rest, saves)?;
        for (spec, gather) in saves.iter().zip(gathered) {
            if let Some(value) = gather.finish(shots) {
                result.saved.push((spec.label.clone(), value));
            }
        }
        if self.circuit.num_clbits() > 0 {
            (result.count_keys, result.count_values) = count_records(&memory, self.words, None);
            if self.opts.memory {
                result.memory = Some(memory);
            }
        }
        if let Some(st) = final_state {
            *amps = st;
        }
        Ok(reported)
    }

    /// Runs every shot of `rest` from `prefix_state`: the shots' records in
    /// shot order, the sum of their saved values, and the last shot's state
    /// when the statevector is kept.
    ///
    /// Shots run a block at a time and their saves are summed as each block
    /// ends: memory holds one block's saved values, not every shot's, and the
    /// sum stays in shot order, so its bits do not depend on the thread count.
    #[allow(clippy::type_complexity)]
    fn run_shots<A: Amplitude>(
        &self,
        prefix_state: &[A],
        rest: &[Step],
        saves: &[SaveSpec],
    ) -> Result<(Vec<u64>, Vec<Gather>, Option<Vec<A>>)> {
        let (shots, words) = (self.shots(), self.words);
        let n = self.circuit.num_qubits();
        let kernels = self.mode.kernels;
        let shot = |s: usize, last: bool| -> Result<ShotOutcome<A>> {
            check(self.monitor)?;
            let mut work = state::try_clone(prefix_state, n)?;
            let mut record = vec![0u64; words];
            let mut rng = rng::rng_from_seed(rng::derive_seed(self.seed, s as u64));
            let mut saved = Vec::with_capacity(saves.len());
            run_shot(
                &mut work,
                rest,
                &mut rng,
                &mut record,
                &mut saved,
                self.phase,
                kernels,
                self.monitor,
            )?;
            Ok((record, last.then_some(work), saved))
        };
        let keep_last = self.opts.statevector;
        let mut gathered: Vec<Gather> = saves.iter().map(Gather::new).collect();
        let mut memory = Vec::with_capacity(shots * words);
        let mut final_state = None;
        let block = if self.mode.shots { SHOT_BLOCK } else { 1 };
        for first in (0..shots).step_by(block) {
            let shots_here = first..(first + block).min(shots);
            let outcomes: Vec<ShotOutcome<A>> = if self.mode.shots {
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
                for (gather, (value, at)) in gathered.iter_mut().zip(saved) {
                    gather.add(value, &at);
                }
            }
        }
        Ok((memory, gathered, final_state))
    }
}

/// Runs a batch. Circuits below the parallel threshold run whole on one
/// thread each, several at once; larger ones run one after another with their
/// kernels split over the threads. Circuit `i` gets seed
/// `experiment_seed(run_seed, i)`, so its result does not depend on the batch
/// around it or on the thread count.
/// Fails with the first failing circuit's error; [`run_monitored`] keeps the
/// others' results.
pub fn run(circuits: &[Circuit], opts: &RunOptions) -> Result<RunResult> {
    validate(circuits, opts)?;
    let seed = opts.seed.unwrap_or_else(rng::random_seed);
    run_monitored(circuits, opts, seed, &Unmonitored)?.into_complete()
}

/// Checks options and memory for a batch, before any work. A circuit that
/// cannot fit fails alone when the batch runs, as any circuit's failure does
/// (Aer's "PARTIAL COMPLETED"); only a batch none of whose circuits fits is
/// refused here, with the first one's error, as there is nothing to run.
pub fn validate(circuits: &[Circuit], opts: &RunOptions) -> Result<()> {
    opts.validate()?;
    let mut first_error = None;
    for (i, c) in circuits.iter().enumerate() {
        match check_fits(c, opts) {
            Ok(()) => return Ok(()),
            Err(e) if first_error.is_none() => {
                first_error =
                    Some(e.in_circuit(opts.first_index.wrapping_add(i as u64), c.name.as_deref()))
            }
            Err(_) => {}
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Whether one copy of `circuit`'s state and its shots fit in the memory limit.
fn check_fits(circuit: &Circuit, opts: &RunOptions) -> Result<()> {
    state::check_memory(
        circuit.num_qubits(),
        opts.precision,
        1,
        opts.max_memory_bytes,
    )?;
    if circuit.num_clbits() > 0 {
        let bytes = shot_bytes(opts.shots, words_for(circuit.num_clbits()), opts.memory);
        check_output_memory(circuit, opts, bytes, 1)?;
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
    let batch = Batch {
        circuits,
        opts,
        seed,
        monitor,
        layout: Layout::of(circuits, opts),
    };
    let threads = batch.layout.threads;
    // One thread: nothing runs in parallel, so skip the hand-off to the pool.
    let outcomes = if threads > 1 {
        parallel::pool(threads).install(|| batch.run_all())?
    } else {
        batch.run_all()?
    };
    Ok(batch.collect(outcomes))
}

/// How a batch spreads over the threads.
#[derive(Debug, Clone, Copy)]
struct Layout {
    threads: usize,
    /// Circuits below the parallel threshold run whole, several at once, in
    /// this many slots...
    slots: usize,
    /// ... when there are several threads, slots and such circuits.
    side_by_side: bool,
    /// How many such circuits there are.
    small: usize,
}

impl Layout {
    fn of(circuits: &[Circuit], opts: &RunOptions) -> Layout {
        let threads = opts.thread_count();
        let small = circuits
            .iter()
            .filter(|c| c.num_qubits() < opts.parallel_threshold)
            .count();
        let slots = match opts.max_parallel_experiments {
            0 => threads,
            k => k.min(threads),
        };
        Layout {
            threads,
            slots,
            side_by_side: threads > 1 && slots > 1 && small > 1,
            small,
        }
    }
}

/// A circuit's outcome: `Some(Ok)` ran, `Some(Err)` failed (kept, the others
/// go on), `None` not run yet.
type Slot = Option<Result<ExperimentResult>>;

/// One batch's run: what every circuit of it needs.
struct Batch<'a> {
    circuits: &'a [Circuit],
    opts: &'a RunOptions,
    seed: u64,
    monitor: &'a dyn Monitor,
    layout: Layout,
}

impl Batch<'_> {
    fn small(&self, c: &Circuit) -> bool {
        c.num_qubits() < self.opts.parallel_threshold
    }

    /// Runs circuit `i`. A failure, a panic included, is reported as that
    /// circuit's, by its place in the whole batch and its name, and kept as
    /// `Ok(Err(e))`; `Err(Cancelled)` stops the batch.
    fn attempt(&self, i: usize, c: &Circuit, mode: Mode) -> Result<Result<ExperimentResult>> {
        let index = self.opts.first_index.wrapping_add(i as u64);
        let seed = rng::experiment_seed(self.seed, index);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_circuit(c, seed, self.opts, mode, self.monitor)
        }))
        .unwrap_or_else(|payload| Err(Error::from_panic(&*payload)))
        .map_err(|e| e.in_circuit(index, c.name.as_deref()));
        match outcome {
            Err(Error::Cancelled) => Err(Error::Cancelled),
            other => Ok(other),
        }
    }

    /// Every circuit's outcome, in batch order: the small ones side by side
    /// first when the layout says so, then the rest one after the other.
    fn run_all(&self) -> Result<Vec<Slot>> {
        let mut out: Vec<Slot> = Vec::with_capacity(self.circuits.len());
        out.resize_with(self.circuits.len(), || None);
        if self.layout.side_by_side {
            for (i, r) in self.run_side_by_side()? {
                out[i] = Some(r);
            }
        }
        let threaded = self.layout.threads > 1;
        for (i, c) in self.circuits.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            // A small circuit spreads its shots over the threads, a large one
            // its amplitudes.
            let mode = Mode {
                kernels: threaded && !self.small(c),
                shots: threaded && self.small(c),
                gate_progress: true,
            };
            out[i] = Some(self.attempt(i, c, mode)?);
        }
        Ok(out)
    }

    /// The small circuits, each whole on one thread, at most `slots` at once.
    fn run_side_by_side(&self) -> Result<Vec<(usize, Result<ExperimentResult>)>> {
        let whole_circuits = Mode {
            kernels: false,
            shots: false,
            gate_progress: false,
        };
        let all_small = || -> Result<Vec<(usize, Result<ExperimentResult>)>> {
            self.circuits
                .par_iter()
                .enumerate()
                .filter(|(_, c)| self.small(c))
                .map(|(i, c)| Ok((i, self.attempt(i, c, whole_circuits)?)))
                .collect()
        };
        // Fewer slots than threads: a pool that size bounds how many run at once.
        if self.layout.slots < self.layout.threads {
            parallel::pool(self.layout.slots).install(all_small)
        } else {
            all_small()
        }
    }

    fn collect(&self, outcomes: Vec<Slot>) -> RunResult {
        let mut experiments = Vec::with_capacity(outcomes.len());
        let mut failed = Vec::new();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Some(Ok(r)) => experiments.push(r),
                Some(Err(e)) => failed.push((i, e)),
                // Every slot is filled by `run_all`, or it has returned `Err`.
                None => failed.push((i, Error::Internal(format!("circuit {i} did not run")))),
            }
        }
        let layout = self.layout;
        RunResult {
            seed: self.seed,
            experiments,
            parallel_experiments: if layout.side_by_side {
                layout.slots.min(layout.small)
            } else {
                1
            },
            failed,
        }
    }
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

/// Gates times amplitudes below which a final state is cheaper computed on
/// the caller's thread than handed to the scheduler: about a millisecond of
/// simulation at most, against a hand-off of about 0.1 ms (a 10-qubit,
/// 150-gate circuit is 150 * 2^10 = 153,600).
pub const INLINE_WORK: u64 = 1 << 20;

/// Whether `statevector` of `circuit` is short enough to run where it is
/// called (no job, so nothing to cancel: it ends within about a millisecond)
/// rather than as a cancellable job.
pub fn runs_inline(circuit: &Circuit) -> bool {
    let n = circuit.num_qubits();
    n < 21 && (circuit.instructions().len() as u64).saturating_mul(1 << n) <= INLINE_WORK
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
        Precision::Double => final_state::<C64>(circuit, opts.fusion_for(n), parallel),
        Precision::Single => final_state::<C32>(circuit, opts.fusion_for(n), parallel),
    };
    if parallel {
        parallel::pool(threads).install(run)
    } else {
        run()
    }
}

fn final_state<A: Amplitude>(
    circuit: &Circuit,
    fusion: Option<FusionConfig>,
    parallel: bool,
) -> Result<StateVector> {
    let n = circuit.num_qubits();
    let Program::Sampled { gates, initial, .. } = compile(circuit)? else {
        unreachable!("a circuit without measure or reset compiles to Sampled")
    };
    let mut amps = state::initial_state::<A>(n, initial.as_ref())?;
    let mode = Mode {
        kernels: parallel,
        shots: false,
        gate_progress: false,
    };
    // Saves are results of a run; the final state takes none.
    let gates = GatePart {
        segments: gates.segments,
        saves: Vec::new(),
    };
    run_gate_part(
        &mut amps,
        gates,
        fusion,
        mode,
        &Unmonitored,
        None,
        &mut Vec::new(),
        (1, 0),
        &mut FusionStats::default(),
    )?;
    if let Some(f) = global_phase_factor(circuit) {
        state::scale(&mut amps, f, parallel);
    }
    Ok(A::into_state(amps))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sim::result::format_bits;

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
    /// The Bell circuit with a rotation and a second measurement of qubit 0
    /// after its measurements: run shot by shot.
    fn bell_with_a_mid_circuit_measurement() -> Circuit {
        let mut c = bell();
        c.append_gate("ry", &[0], &[0.3]).unwrap();
        c.measure(0, 0).unwrap();
        c
    }

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
        let mid = bell_with_a_mid_circuit_measurement();
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
        let mid = bell_with_a_mid_circuit_measurement();
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
        let mut late = Circuit::new(1, 1);
        late.measure(0, 0).unwrap();
        late.append_gate("x", &[0], &[]).unwrap();
        late.save("statevector", "sv", &[], &[], &[]).unwrap();
        let err = run(&[bell(), late], &RunOptions::default()).unwrap_err();
        assert!(err.to_string().starts_with("circuit 1: "), "{err}");
        assert_eq!(Error::Cancelled.in_circuit(3, None), Error::Cancelled);
    }

    #[test]
    fn a_circuit_too_large_fails_alone_and_a_batch_of_only_such_is_refused() {
        let mut big = Circuit::new(30, 1);
        big.append_gate("h", &[29], &[]).unwrap();
        big.measure(29, 0).unwrap();
        let opts = RunOptions {
            shots: 50,
            seed: Some(1),
            max_memory_bytes: Some(1 << 20),
            ..RunOptions::default()
        };
        let batch = [bell(), big.clone(), bell()];
        validate(&batch, &opts).unwrap();
        let r = run_monitored(&batch, &opts, 1, &Unmonitored).unwrap();
        assert_eq!(r.experiments.len(), 2);
        assert_eq!(r.failed.len(), 1);
        assert_eq!(r.failed[0].0, 1);
        assert!(matches!(r.failed[0].1.root(), Error::StateTooLarge { .. }));
        let alone = validate(&[big.clone(), big], &opts).unwrap_err();
        assert!(
            matches!(alone, Error::InCircuit { index: 0, .. }),
            "{alone:?}"
        );
        // Shots that cannot fit fail their circuit at run time too.
        let many = RunOptions {
            shots: 1 << 40,
            ..opts
        };
        let r = run_monitored(&[bell()], &many, 1, &Unmonitored).unwrap();
        assert!(matches!(r.failed[0].1.root(), Error::OutputTooLarge { .. }));
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
    fn only_short_final_states_run_inline() {
        let mut small = Circuit::new(10, 0);
        for q in 0..10 {
            small.append_gate("h", &[q], &[]).unwrap();
        }
        assert!(runs_inline(&small));
        let mut wide = Circuit::new(21, 0);
        wide.append_gate("h", &[0], &[]).unwrap();
        assert!(
            !runs_inline(&wide),
            "2^21 amplitudes are past the bound alone"
        );
        let mut long = Circuit::new(10, 0);
        for _ in 0..=(INLINE_WORK >> 10) {
            long.append_gate("x", &[0], &[]).unwrap();
        }
        assert!(!runs_inline(&long));
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
            run(std::slice::from_ref(&c), &RunOptions::default()).map_err(|e| e.root().clone()),
            Err(Error::InvalidCircuit(_))
        ));
        // A save taken shot by shot is taken where it stands: gates and a
        // measurement after it do not change it (the X expectation of |+>
        // is 1 before a Z measurement, 0 after).
        let mut c = Circuit::new(2, 2);
        c.measure(1, 1).unwrap();
        c.append_gate("h", &[0], &[]).unwrap();
        c.save(
            "expectation_value",
            "x",
            &[0],
            &[],
            &[("X".to_string(), C64::new(1.0, 0.0))],
        )
        .unwrap();
        c.measure(0, 0).unwrap();
        c.append_gate("x", &[0], &[]).unwrap();
        let r = run(
            &[c],
            &RunOptions {
                shots: 100,
                ..Default::default()
            },
        )
        .unwrap();
        let SavedValue::ExpectationValue(x) = saved(&r, "x") else {
            panic!()
        };
        assert!((x.re - 1.0).abs() < 1e-12, "{x}");
    }

    #[test]
    fn saves_before_any_measurement_are_taken_where_they_stand() {
        // As Aer: a save in the middle of a circuit sees the state there, and
        // gates after it (on any qubit) do not change it.
        let mut c = Circuit::new(2, 2);
        c.append_gate("h", &[0], &[]).unwrap();
        c.save("statevector", "mid", &[], &[], &[]).unwrap();
        c.save("probabilities", "p0", &[0], &[], &[]).unwrap();
        c.append_gate("cx", &[0, 1], &[]).unwrap();
        c.append_gate("x", &[1], &[]).unwrap();
        c.save("statevector", "end", &[], &[], &[]).unwrap();
        c.measure(0, 0).unwrap();
        c.measure(1, 1).unwrap();
        let opts = RunOptions {
            shots: 100,
            seed: Some(2),
            ..Default::default()
        };
        for fusion in [true, false] {
            let opts = RunOptions {
                fusion,
                ..opts.clone()
            };
            let r = run(std::slice::from_ref(&c), &opts).unwrap();
            let labels: Vec<&str> = r.experiments[0]
                .saved
                .iter()
                .map(|s| s.0.as_str())
                .collect();
            assert_eq!(labels, ["mid", "p0", "end"], "program order");
            let h = std::f64::consts::FRAC_1_SQRT_2;
            let SavedValue::Statevector(mid) = saved(&r, "mid") else {
                panic!()
            };
            let SavedValue::Statevector(end) = saved(&r, "end") else {
                panic!()
            };
            let close = |s: &StateVector, want: [f64; 4]| {
                let s = s.to_double();
                s.iter()
                    .zip(want)
                    .all(|(a, w)| (a.re - w).abs() < 1e-12 && a.im.abs() < 1e-12)
            };
            assert!(close(&mid, [h, h, 0.0, 0.0]), "{mid:?}");
            // cx then x on qubit 1: |00>+|11> becomes |10>+|01>.
            assert!(close(&end, [0.0, h, h, 0.0]), "{end:?}");
        }
        // The same in a circuit run shot by shot (a mid-circuit measurement):
        // the prefix's saves are taken once.
        let mut per_shot = Circuit::new(2, 2);
        per_shot.append_gate("h", &[0], &[]).unwrap();
        per_shot.save("probabilities", "p", &[0], &[], &[]).unwrap();
        per_shot.append_gate("x", &[1], &[]).unwrap();
        per_shot.measure(0, 0).unwrap();
        per_shot.append_gate("h", &[0], &[]).unwrap();
        per_shot.measure(0, 1).unwrap();
        let r = run(&[per_shot], &opts).unwrap();
        let SavedValue::Probabilities(p) = saved(&r, "p") else {
            panic!()
        };
        assert!(
            (p[0] - 0.5).abs() < 1e-12 && (p[1] - 0.5).abs() < 1e-12,
            "{p:?}"
        );
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
}
