//! Compiling a circuit for the engine: its gates become kernel ops, split at
//! barriers; a circuit whose measurements are all terminal is simulated once
//! and sampled ([`Program::Sampled`]), any other runs shot by shot after a
//! common prefix ([`Program::PerShot`]).

use crate::circuit::{Circuit, Expr, Instruction};
use crate::error::{Error, Result};
use crate::sim::kernels::Op;
use crate::sim::saves::SaveSpec;

/// Gates to run once on the state, with saves taken where they stand.
#[derive(Debug, Default)]
pub(crate) struct GatePart {
    /// The gates between barriers and saves: fusion and blocking never move a
    /// gate across either, as Qiskit's transpiler never moves one across a
    /// barrier.
    pub(crate) segments: Vec<Vec<Op>>,
    /// Each save with the number of segments that run before it.
    pub(crate) saves: Vec<(usize, SaveSpec)>,
}

/// The state a `set_statevector` sets, where the run starts instead of |0...0>.
pub(crate) type Initial = std::sync::Arc<Vec<num_complex::Complex64>>;

/// A circuit compiled for execution.
#[derive(Debug)]
pub(crate) enum Program {
    /// Every measurement is terminal: simulate once, then sample. `measures`
    /// are (qubit, clbit) in program order (a later write to a clbit wins).
    Sampled {
        initial: Option<Initial>,
        gates: GatePart,
        measures: Vec<(usize, usize)>,
    },
    /// Mid-circuit measurement or reset: `prefix` runs once (its saves taken
    /// once, where they stand), `rest` per shot; `saves` are the saves in
    /// `rest`, which each shot takes where they stand, averaged over shots.
    PerShot {
        initial: Option<Initial>,
        prefix: GatePart,
        rest: Vec<Step>,
        saves: Vec<SaveSpec>,
    },
}

impl Program {
    /// The state the run starts from, when a `set_statevector` gives one.
    pub(crate) fn initial(&self) -> Option<&Initial> {
        match self {
            Program::Sampled { initial, .. } | Program::PerShot { initial, .. } => initial.as_ref(),
        }
    }
}

#[derive(Debug)]
pub(crate) enum Step {
    Gate(Op),
    Barrier,
    Measure {
        qubit: usize,
        clbit: usize,
    },
    Reset {
        qubit: usize,
    },
    Save(SaveSpec),
    If {
        condition: Expr,
        then_steps: Vec<Step>,
        else_steps: Vec<Step>,
    },
    While {
        condition: Expr,
        body: Vec<Step>,
    },
    Switch {
        target: Expr,
        cases: Vec<(Vec<u64>, Vec<Step>)>,
        default: Vec<Step>,
    },
    Break,
    Continue,
    Store {
        targets: Vec<usize>,
        value: Expr,
    },
}

/// The steps of a control-flow block: gates compiled, `break` and `continue`
/// allowed only inside a loop.
fn block_steps(body: &[Instruction], in_loop: bool) -> Result<Vec<Step>> {
    body.iter()
        .map(|inst| {
            Ok(match inst {
                Instruction::Barrier { .. } => Step::Barrier,
                Instruction::Measure { qubit, clbit } => Step::Measure {
                    qubit: *qubit,
                    clbit: *clbit,
                },
                Instruction::Reset { qubit } => Step::Reset { qubit: *qubit },
                Instruction::IfElse {
                    condition,
                    then_body,
                    else_body,
                    ..
                } => Step::If {
                    condition: condition.clone(),
                    then_steps: block_steps(then_body, in_loop)?,
                    else_steps: block_steps(else_body, in_loop)?,
                },
                Instruction::WhileLoop {
                    condition, body, ..
                } => Step::While {
                    condition: condition.clone(),
                    body: block_steps(body, true)?,
                },
                Instruction::SwitchCase {
                    target,
                    cases,
                    default,
                    ..
                } => Step::Switch {
                    target: target.clone(),
                    cases: cases
                        .iter()
                        .map(|(v, b)| Ok((v.clone(), block_steps(b, in_loop)?)))
                        .collect::<Result<_>>()?,
                    default: match default {
                        Some(b) => block_steps(b, in_loop)?,
                        None => Vec::new(),
                    },
                },
                Instruction::BreakLoop | Instruction::ContinueLoop if !in_loop => {
                    return Err(Error::InvalidCircuit(format!(
                        "'{}' outside a loop",
                        inst.name()
                    )));
                }
                Instruction::BreakLoop => Step::Break,
                Instruction::ContinueLoop => Step::Continue,
                Instruction::Store { targets, value } => Step::Store {
                    targets: targets.clone(),
                    value: value.clone(),
                },
                Instruction::Save { label, .. } => {
                    return Err(Error::InvalidCircuit(format!(
                        "save '{label}' inside a control-flow block is not supported"
                    )));
                }
                Instruction::SetStatevector { .. } => {
                    return Err(Error::InvalidCircuit(
                        "set_statevector inside a control-flow block is not supported".into(),
                    ));
                }
                Instruction::Gate { .. } | Instruction::Unitary { .. } => {
                    match compile_gate(inst) {
                        Some(op) => Step::Gate(op),
                        None => Step::Barrier,
                    }
                }
            })
        })
        .collect()
}

pub(crate) fn compile_gate(inst: &Instruction) -> Option<Op> {
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

pub(crate) fn compile(circuit: &Circuit) -> Result<Program> {
    let n = circuit.num_qubits();
    let mut touched = vec![false; n];
    let mut measured = vec![false; n];
    let mut any_measure = false;
    let mut terminal = true;
    // Whether a measurement or reset has been met: a save after one is taken
    // shot by shot (where it stands) and averaged; one before it, once.
    let mut collapsed = false;
    let mut steps = Vec::new();
    let mut initial = None;
    for inst in circuit.instructions() {
        match inst {
            Instruction::Barrier { .. } => steps.push(Step::Barrier),
            Instruction::Save {
                kind,
                label,
                qubits,
                mode,
            } => {
                // A save after a measurement sees a collapsed, shot-dependent state.
                terminal &= !any_measure;
                steps.push(Step::Save(SaveSpec {
                    kind: kind.clone(),
                    label: label.clone(),
                    qubits: qubits.clone(),
                    mode: *mode,
                }));
            }
            // The state it sets is the same whatever came before, so the
            // gates before it are dropped and it becomes the initial state.
            // Before it, only gates and barriers: a measurement's bits or a
            // save's value would need the state it forgets.
            Instruction::SetStatevector { state, .. } => {
                if any_measure || collapsed || steps.iter().any(|s| matches!(s, Step::Save(_))) {
                    return Err(Error::InvalidCircuit(
                        "set_statevector after a measurement, reset, save or control flow is not \
                         supported: it must come before them"
                            .into(),
                    ));
                }
                steps.clear();
                initial = Some(state.clone());
                touched.iter_mut().for_each(|t| *t = true);
            }
            // A reset before anything touched the qubit finds it in |0>.
            Instruction::Reset { qubit } if !touched[*qubit] => {}
            Instruction::Reset { qubit } => {
                terminal = false;
                collapsed = true;
                steps.push(Step::Reset { qubit: *qubit });
            }
            Instruction::Measure { qubit, clbit } => {
                touched[*qubit] = true;
                measured[*qubit] = true;
                any_measure = true;
                collapsed = true;
                steps.push(Step::Measure {
                    qubit: *qubit,
                    clbit: *clbit,
                });
            }
            _ if inst.is_control_flow() => {
                // Shot by shot: each shot decides from its own bits.
                terminal = false;
                collapsed = true;
                for &q in inst.qubits() {
                    touched[q] = true;
                    measured[q] = true;
                }
                steps.extend(block_steps(std::slice::from_ref(inst), false)?);
            }
            _ => {
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
        // Gates after a measurement act on other qubits and commute with it;
        // every save comes before the first measurement.
        let measures = steps
            .iter()
            .filter_map(|step| match *step {
                Step::Measure { qubit, clbit } => Some((qubit, clbit)),
                _ => None,
            })
            .collect();
        return Ok(Program::Sampled {
            initial,
            gates: gate_part(steps),
            measures,
        });
    }
    let split = steps
        .iter()
        .position(|s| !matches!(s, Step::Gate(_) | Step::Barrier | Step::Save(_)))
        .unwrap_or(steps.len());
    let rest = steps.split_off(split);
    // Each shot takes these where they stand in `rest`, in this order (saves
    // are top-level steps only, so each is met exactly once a shot).
    let saves = rest
        .iter()
        .filter_map(|step| match step {
            Step::Save(spec) => Some(spec.clone()),
            _ => None,
        })
        .collect();
    Ok(Program::PerShot {
        initial,
        prefix: gate_part(steps),
        rest,
        saves,
    })
}

/// The gates of `steps`, split at barriers and saves, with the saves where
/// they stand; measurements are skipped.
pub(crate) fn gate_part(steps: Vec<Step>) -> GatePart {
    let mut part = GatePart {
        segments: vec![Vec::new()],
        saves: Vec::new(),
    };
    for step in steps {
        match step {
            Step::Gate(op) => part.segments.last_mut().expect("one segment").push(op),
            Step::Barrier => part.segments.push(Vec::new()),
            Step::Save(spec) => {
                part.saves.push((part.segments.len(), spec));
                part.segments.push(Vec::new());
            }
            Step::Measure { .. } => {}
            _ => unreachable!("a reset or control flow makes the circuit per-shot"),
        }
    }
    part
}
