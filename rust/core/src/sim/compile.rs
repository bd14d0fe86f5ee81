//! Compiling a circuit for the engine: its gates become kernel ops, split at
//! barriers; a circuit whose measurements are all terminal is simulated once
//! and sampled ([`Program::Sampled`]), any other runs shot by shot after a
//! common prefix ([`Program::PerShot`]).

use crate::circuit::{Circuit, Instruction};
use crate::error::{Error, Result};
use crate::sim::kernels::Op;
use crate::sim::saves::SaveSpec;

/// A circuit compiled for execution.
#[derive(Debug)]
pub(crate) enum Program {
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
pub(crate) enum Step {
    Gate(Op),
    Barrier,
    Measure { qubit: usize, clbit: usize },
    Reset { qubit: usize },
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
pub(crate) fn gate_segments(steps: Vec<Step>) -> Vec<Vec<Op>> {
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
