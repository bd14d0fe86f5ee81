//! Compiling a circuit for the engine: its gates become kernel ops, split at
//! barriers; a circuit whose measurements are all terminal is simulated once
//! and sampled ([`Program::Sampled`]), any other runs shot by shot after a
//! common prefix ([`Program::PerShot`]).

use crate::circuit::{Circuit, Instruction};
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

/// A circuit compiled for execution.
#[derive(Debug)]
pub(crate) enum Program {
    /// Every measurement is terminal: simulate once, then sample. `measures`
    /// are (qubit, clbit) in program order (a later write to a clbit wins).
    Sampled {
        gates: GatePart,
        measures: Vec<(usize, usize)>,
    },
    /// Mid-circuit measurement or reset: `prefix` runs once (its saves taken
    /// once, where they stand), `rest` per shot, then `saves` (those after
    /// the first measurement or reset) on each shot's final state, averaged.
    PerShot {
        prefix: GatePart,
        rest: Vec<Step>,
        saves: Vec<SaveSpec>,
    },
}

#[derive(Debug)]
pub(crate) enum Step {
    Gate(Op),
    Barrier,
    Measure { qubit: usize, clbit: usize },
    Reset { qubit: usize },
    Save(SaveSpec),
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
    // from each shot's final state, so only measurements and barriers may
    // follow it. A save before one is taken where it stands.
    let mut collapsed = false;
    let mut shot_save: Option<String> = None;
    let mut steps = Vec::new();
    for inst in circuit.instructions() {
        let after_save = |what: &str, label: &str| {
            Error::InvalidCircuit(format!(
                "'{what}' follows save instruction '{label}', which comes after a measurement \
                 or reset and so is taken from each shot's final state: only measurements and \
                 barriers may come after it"
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
                if collapsed && shot_save.is_none() {
                    shot_save = Some(label.clone());
                }
                steps.push(Step::Save(SaveSpec {
                    kind: kind.clone(),
                    label: label.clone(),
                    qubits: qubits.clone(),
                }));
            }
            // A reset before anything touched the qubit finds it in |0>.
            Instruction::Reset { qubit } if !touched[*qubit] => {}
            Instruction::Reset { qubit } => {
                if let Some(label) = &shot_save {
                    return Err(after_save("reset", label));
                }
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
            _ => {
                if let Some(label) = &shot_save {
                    return Err(after_save(inst.name(), label));
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
            gates: gate_part(steps),
            measures,
        });
    }
    let split = steps
        .iter()
        .position(|s| !matches!(s, Step::Gate(_) | Step::Barrier | Step::Save(_)))
        .unwrap_or(steps.len());
    let mut rest = steps.split_off(split);
    let mut saves = Vec::new();
    rest.retain_mut(|step| match step {
        Step::Save(spec) => {
            saves.push(spec.clone());
            false
        }
        _ => true,
    });
    Ok(Program::PerShot {
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
            Step::Reset { .. } => unreachable!("a reset makes the circuit per-shot"),
        }
    }
    part
}
