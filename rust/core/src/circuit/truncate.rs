//! Qubit truncation, as Qiskit Aer does by default: a circuit transpiled for a
//! large device acts on a few of its qubits; the others stay in |0> and
//! change nothing, so the circuit is simulated on its active qubits only.

use super::{Circuit, Instruction, PauliTerm, SaveKind};

/// Moves bit `q` of `bits` to bit `map[q]` for every set bit (all of which are
/// on active qubits, so mapped).
fn remap_bits(bits: u64, map: &[usize]) -> u64 {
    let mut out = 0;
    let mut rest = bits;
    while rest != 0 {
        let q = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        out |= 1 << map[q];
    }
    out
}

impl Circuit {
    /// The qubits some instruction other than a barrier acts on, ascending.
    pub fn active_qubits(&self) -> Vec<usize> {
        let mut used = vec![false; self.num_qubits];
        for inst in &self.instructions {
            // A block's qubits are those of its instructions, barriers included:
            // an over-count that is harmless.
            if !matches!(inst, Instruction::Barrier { .. }) {
                inst.qubits().iter().for_each(|&q| used[q] = true);
            }
        }
        (0..self.num_qubits).filter(|&q| used[q]).collect()
    }

    /// The circuit on its active qubits only ([`Circuit::active_qubits`]),
    /// renumbered in ascending order, with those qubits; `None` when every
    /// qubit is active. Counts, saves of the active qubits and expectation
    /// values are those of the whole circuit; a statevector is that of the
    /// active qubits (the idle ones are |0>).
    pub fn truncated(&self) -> Option<(Circuit, Vec<usize>)> {
        let active = self.active_qubits();
        // A circuit without instructions keeps one qubit, as Aer does.
        let active = if active.is_empty() && self.num_qubits > 0 {
            vec![0]
        } else {
            active
        };
        if active.len() == self.num_qubits {
            return None;
        }
        let mut map = vec![usize::MAX; self.num_qubits];
        for (new, &old) in active.iter().enumerate() {
            map[old] = new;
        }
        let mut out = Circuit::new(active.len(), self.num_clbits);
        out.name = self.name.clone();
        out.global_phase = self.global_phase;
        out.instructions = remap_all(&self.instructions, &map);
        Some((out, active))
    }
}

/// `body` with every qubit `q` renumbered `map[q]`; barriers keep only mapped
/// qubits (and vanish when none is left).
fn remap_all(body: &[Instruction], map: &[usize]) -> Vec<Instruction> {
    let qubits = |list: &[usize]| list.iter().map(|&q| map[q]).collect::<Vec<_>>();
    let mut out = Vec::with_capacity(body.len());
    for inst in body {
        let moved = match inst {
            Instruction::Gate {
                kind,
                qubits: q,
                params,
            } => Instruction::Gate {
                kind: *kind,
                qubits: qubits(q),
                params: params.clone(),
            },
            Instruction::Unitary { qubits: q, matrix } => Instruction::Unitary {
                qubits: qubits(q),
                matrix: matrix.clone(),
            },
            Instruction::Measure { qubit, clbit } => Instruction::Measure {
                qubit: map[*qubit],
                clbit: *clbit,
            },
            Instruction::Reset { qubit } => Instruction::Reset { qubit: map[*qubit] },
            // It acts on every qubit, so a circuit holding one is never
            // truncated; kept whole should that ever change.
            Instruction::SetStatevector { .. } => inst.clone(),
            // Acts on clbits only.
            Instruction::Store { .. } => inst.clone(),
            Instruction::Barrier { qubits: q } => {
                let kept: Vec<usize> = q
                    .iter()
                    .filter(|&&q| map[q] != usize::MAX)
                    .map(|&q| map[q])
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                Instruction::Barrier { qubits: kept }
            }
            Instruction::Save {
                kind,
                label,
                qubits: q,
                mode,
            } => Instruction::Save {
                mode: *mode,
                kind: match kind {
                    SaveKind::Amplitudes(indices) => {
                        SaveKind::Amplitudes(indices.iter().map(|&i| remap_bits(i, map)).collect())
                    }
                    SaveKind::ExpectationValue(terms) => SaveKind::ExpectationValue(
                        terms
                            .iter()
                            .map(|t| PauliTerm {
                                x: remap_bits(t.x, map),
                                z: remap_bits(t.z, map),
                                coeff: t.coeff,
                            })
                            .collect(),
                    ),
                    other => other.clone(),
                },
                label: label.clone(),
                qubits: qubits(q),
            },
            Instruction::IfElse {
                condition,
                then_body,
                else_body,
                qubits: q,
            } => Instruction::IfElse {
                condition: condition.clone(),
                then_body: remap_all(then_body, map),
                else_body: remap_all(else_body, map),
                qubits: qubits(q),
            },
            Instruction::WhileLoop {
                condition,
                body,
                qubits: q,
            } => Instruction::WhileLoop {
                condition: condition.clone(),
                body: remap_all(body, map),
                qubits: qubits(q),
            },
            Instruction::SwitchCase {
                target,
                cases,
                default,
                qubits: q,
            } => Instruction::SwitchCase {
                target: target.clone(),
                cases: cases
                    .iter()
                    .map(|(v, b)| (v.clone(), remap_all(b, map)))
                    .collect(),
                default: default.as_ref().map(|b| remap_all(b, map)),
                qubits: qubits(q),
            },
            Instruction::BreakLoop => Instruction::BreakLoop,
            Instruction::ContinueLoop => Instruction::ContinueLoop,
        };
        out.push(moved);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::engine::run;
    use crate::sim::options::RunOptions;

    #[test]
    fn idle_qubits_are_dropped_and_counts_do_not_change() {
        let mut wide = Circuit::new(40, 3);
        wide.append_gate("h", &[7], &[]).unwrap();
        wide.append_gate("cx", &[7, 31], &[]).unwrap();
        wide.append_gate("rx", &[2], &[0.4]).unwrap();
        wide.barrier(&[0, 7, 39]).unwrap();
        wide.measure(7, 0).unwrap();
        wide.measure(31, 1).unwrap();
        wide.measure(2, 2).unwrap();
        let (small, active) = wide.truncated().unwrap();
        assert_eq!(active, vec![2, 7, 31]);
        assert_eq!(small.num_qubits(), 3);
        let mut direct = Circuit::new(3, 3);
        direct.append_gate("h", &[1], &[]).unwrap();
        direct.append_gate("cx", &[1, 2], &[]).unwrap();
        direct.append_gate("rx", &[0], &[0.4]).unwrap();
        direct.barrier(&[1]).unwrap();
        direct.measure(1, 0).unwrap();
        direct.measure(2, 1).unwrap();
        direct.measure(0, 2).unwrap();
        assert_eq!(small, direct);
        let opts = RunOptions {
            shots: 500,
            seed: Some(3),
            ..RunOptions::default()
        };
        let a = run(&[small], &opts).unwrap();
        let b = run(&[direct], &opts).unwrap();
        assert_eq!(a.experiments[0].count_keys, b.experiments[0].count_keys);
        assert_eq!(a.experiments[0].count_values, b.experiments[0].count_values);
    }

    #[test]
    fn a_circuit_using_every_qubit_is_kept_and_an_empty_one_keeps_one() {
        let mut all = Circuit::new(2, 0);
        all.append_gate("cx", &[0, 1], &[]).unwrap();
        assert!(all.truncated().is_none());
        let (one, active) = Circuit::new(5, 1).truncated().unwrap();
        assert_eq!((one.num_qubits(), active), (1, vec![0]));
    }

    #[test]
    fn expectation_terms_follow_their_qubits() {
        let mut c = Circuit::new(6, 0);
        c.append_gate("x", &[4], &[]).unwrap();
        let zz = vec![("ZZ".to_string(), num_complex::Complex64::new(1.0, 0.0))];
        c.save("expectation_value", "z", &[1, 4], &[], &zz).unwrap();
        let (small, active) = c.truncated().unwrap();
        assert_eq!(active, vec![1, 4]);
        let opts = RunOptions {
            shots: 1,
            ..RunOptions::default()
        };
        let full = run(&[c], &opts).unwrap();
        let cut = run(&[small], &opts).unwrap();
        assert_eq!(full.experiments[0].saved, cut.experiments[0].saved);
    }
}
