//! The circuit IR: validated instructions over flat qubit and clbit indices.
//!
//! Validation happens when an instruction is appended, so a circuit that
//! exists is a circuit the engine can run; the only check left for run time
//! is whether its state fits in memory.

pub use crate::circuit::control::Expr;
use crate::circuit::gates::GateKind;
use crate::circuit::matrix::Matrix;
use crate::error::{Error, Result};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

mod bind;
mod codec;
pub mod control;
pub mod gates;
pub mod matrix;
mod truncate;

/// What a save instruction records (computed from the state in the engine,
/// never copied out just to be reduced in Python).
#[derive(Debug, Clone, PartialEq)]
pub enum SaveKind {
    Statevector,
    /// Marginal probabilities of the save's qubits (index bit j = qubits[j]).
    Probabilities,
    /// The same numbers, handed out as a dict of the non-zero ones.
    ProbabilitiesDict,
    /// Amplitudes of the given basis states of the whole register.
    Amplitudes(Vec<u64>),
    /// Expectation value of a sum of Pauli terms.
    ExpectationValue(Vec<PauliTerm>),
}

impl SaveKind {
    pub fn name(&self) -> &'static str {
        match self {
            SaveKind::Statevector => "save_statevector",
            SaveKind::Probabilities => "save_probabilities",
            SaveKind::ProbabilitiesDict => "save_probabilities_dict",
            SaveKind::Amplitudes(_) => "save_amplitudes",
            SaveKind::ExpectationValue(_) => "save_expectation_value",
        }
    }
}

/// How a save's values are gathered over the shots (Aer's save subtypes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveMode {
    /// One value: the average over the shots where it differs between them
    /// (probabilities, expectation values), else the one value (a state or
    /// amplitudes taken before any measurement). Aer's "average" / "single".
    #[default]
    Average,
    /// One value, of the last shot in shot order where it differs between
    /// shots: Aer's "single" for a state or amplitudes saved after a
    /// mid-circuit measurement (Aer keeps one shot's).
    Single,
    /// One value per shot, in shot order (Aer's `pershot=True`, "list").
    PerShot,
    /// One value per classical memory seen at the save (the clbits as they
    /// are there), averaged over the shots with that memory; a state or
    /// amplitudes: the last such shot's (Aer's `conditional=True`).
    Conditional,
    /// Per memory, the values of its shots in shot order (Aer's "c_list").
    ConditionalPerShot,
}

impl SaveMode {
    pub fn name(self) -> &'static str {
        match self {
            SaveMode::Average => "average",
            SaveMode::Single => "single",
            SaveMode::PerShot => "pershot",
            SaveMode::Conditional => "conditional",
            SaveMode::ConditionalPerShot => "conditional_pershot",
        }
    }

    pub fn from_name(name: &str) -> Option<SaveMode> {
        [
            SaveMode::Average,
            SaveMode::Single,
            SaveMode::PerShot,
            SaveMode::Conditional,
            SaveMode::ConditionalPerShot,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// `coeff * P` where P has X on the qubits of `x` only, Z on `z` only and Y
/// on both (bit masks over the circuit's qubits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PauliTerm {
    pub x: u64,
    pub z: u64,
    pub coeff: num_complex::Complex64,
}

/// Largest deviation from unitarity accepted for a user matrix.
pub const UNITARY_TOLERANCE: f64 = 1e-9;

/// Largest deviation of a state's norm squared from 1 accepted by
/// `set_statevector` (Qiskit's `Statevector.is_valid` uses 1e-8 absolute).
pub const STATE_NORM_TOLERANCE: f64 = 1e-8;

#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    Gate {
        kind: GateKind,
        qubits: Vec<usize>,
        params: Vec<f64>,
    },
    /// A user matrix; `qubits[0]` is the least significant bit of its index.
    Unitary {
        qubits: Vec<usize>,
        matrix: Arc<Matrix>,
    },
    Measure {
        qubit: usize,
        clbit: usize,
    },
    Reset {
        qubit: usize,
    },
    Barrier {
        qubits: Vec<usize>,
    },
    Save {
        kind: SaveKind,
        label: String,
        qubits: Vec<usize>,
        mode: SaveMode,
    },
    /// `if (condition) then_body else else_body`; `qubits` are those the
    /// blocks act on.
    IfElse {
        condition: Expr,
        then_body: Vec<Instruction>,
        else_body: Vec<Instruction>,
        qubits: Vec<usize>,
    },
    WhileLoop {
        condition: Expr,
        body: Vec<Instruction>,
        qubits: Vec<usize>,
    },
    /// The first case listing the target's value runs, else `default`.
    SwitchCase {
        target: Expr,
        cases: Vec<(Vec<u64>, Vec<Instruction>)>,
        default: Option<Vec<Instruction>>,
        qubits: Vec<usize>,
    },
    BreakLoop,
    ContinueLoop,
    /// Qiskit's `store`: `value`, evaluated on the shot's clbits, written
    /// into the clbits `targets` (`targets[0]` its least significant bit; a
    /// one-clbit target takes whether it is non-zero).
    Store {
        targets: Vec<usize>,
        value: Expr,
    },
    /// Aer's `set_statevector`: the whole register's state becomes `state`
    /// (normalised, `2^n` amplitudes, qubit 0 the least significant bit),
    /// whatever it was. `qubits` lists every qubit.
    SetStatevector {
        state: Arc<Vec<num_complex::Complex64>>,
        qubits: Vec<usize>,
    },
}

impl Instruction {
    pub fn name(&self) -> &'static str {
        match self {
            Instruction::Gate { kind, .. } => kind.name(),
            Instruction::Unitary { .. } => "unitary",
            Instruction::Measure { .. } => "measure",
            Instruction::Reset { .. } => "reset",
            Instruction::Barrier { .. } => "barrier",
            Instruction::Save { kind, .. } => kind.name(),
            Instruction::IfElse { .. } => "if_else",
            Instruction::WhileLoop { .. } => "while_loop",
            Instruction::SwitchCase { .. } => "switch_case",
            Instruction::BreakLoop => "break_loop",
            Instruction::ContinueLoop => "continue_loop",
            Instruction::Store { .. } => "store",
            Instruction::SetStatevector { .. } => "set_statevector",
        }
    }

    pub fn qubits(&self) -> &[usize] {
        match self {
            Instruction::Gate { qubits, .. }
            | Instruction::Unitary { qubits, .. }
            | Instruction::Barrier { qubits }
            | Instruction::Save { qubits, .. }
            | Instruction::IfElse { qubits, .. }
            | Instruction::WhileLoop { qubits, .. }
            | Instruction::SwitchCase { qubits, .. }
            | Instruction::SetStatevector { qubits, .. } => qubits,
            Instruction::Measure { qubit, .. } | Instruction::Reset { qubit } => {
                std::slice::from_ref(qubit)
            }
            Instruction::BreakLoop | Instruction::ContinueLoop | Instruction::Store { .. } => &[],
        }
    }

    /// `if`, `while`, `switch`, `break`, `continue` and `store`: what runs
    /// shot by shot on the classical bits.
    pub fn is_control_flow(&self) -> bool {
        matches!(
            self,
            Instruction::IfElse { .. }
                | Instruction::WhileLoop { .. }
                | Instruction::SwitchCase { .. }
                | Instruction::BreakLoop
                | Instruction::ContinueLoop
                | Instruction::Store { .. }
        )
    }

    pub fn params(&self) -> &[f64] {
        match self {
            Instruction::Gate { params, .. } => params,
            _ => &[],
        }
    }

    /// Measure and reset collapse the state, and control flow depends on
    /// measured bits: a circuit with any of them runs shot by shot. Everything
    /// else acts the same on every shot: gates, barriers, saves, and
    /// `set_statevector` (not unitary, but deterministic; `inverse` refuses it).
    pub fn is_non_unitary(&self) -> bool {
        matches!(
            self,
            Instruction::Measure { .. } | Instruction::Reset { .. }
        ) || self.is_control_flow()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Circuit {
    num_qubits: usize,
    num_clbits: usize,
    pub name: Option<String>,
    global_phase: f64,
    instructions: Vec<Instruction>,
}

fn check_qubits(gate: &str, qubits: &[i64], num_qubits: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(qubits.len());
    // Long lists (barriers, saves, decoded circuits) would make the linear
    // duplicate scan quadratic.
    let mut seen =
        (qubits.len() > 32).then(|| std::collections::HashSet::with_capacity(qubits.len()));
    for &q in qubits {
        if q < 0 || q as u64 >= num_qubits as u64 {
            return Err(Error::QubitOutOfRange {
                gate: gate.to_string(),
                qubit: q,
                num_qubits,
            });
        }
        let q = q as usize;
        let duplicate = match seen.as_mut() {
            Some(seen) => !seen.insert(q),
            None => out.contains(&q),
        };
        if duplicate {
            return Err(Error::DuplicateQubit {
                gate: gate.to_string(),
                qubit: q,
            });
        }
        out.push(q);
    }
    Ok(out)
}

fn check_params(gate: &str, params: &[f64]) -> Result<()> {
    for (index, &value) in params.iter().enumerate() {
        if !value.is_finite() {
            return Err(Error::NonFiniteParam {
                gate: gate.to_string(),
                index,
                value,
            });
        }
    }
    Ok(())
}

/// The most qubits, and the most clbits, a circuit may declare. Far above any
/// simulable width, it keeps per-circuit buffers sized by the width (a barrier
/// over all qubits, an outcome of all clbits per shot) from asking for more
/// memory than exists, which would abort the process instead of failing.
pub const MAX_WIDTH: usize = 1 << 20;

fn check_width(what: &str, count: usize) -> Result<()> {
    if count > MAX_WIDTH {
        return Err(Error::InvalidCircuit(format!(
            "{what}: {count} is more than the {MAX_WIDTH} a circuit may have"
        )));
    }
    Ok(())
}

impl Circuit {
    /// A circuit of the given width, refused beyond [`MAX_WIDTH`]: the
    /// constructor for widths that come from users.
    pub fn with_width(num_qubits: usize, num_clbits: usize) -> Result<Circuit> {
        check_width("num_qubits", num_qubits)?;
        check_width("num_clbits", num_clbits)?;
        Ok(Circuit::new(num_qubits, num_clbits))
    }

    pub fn new(num_qubits: usize, num_clbits: usize) -> Circuit {
        Circuit {
            num_qubits,
            num_clbits,
            name: None,
            global_phase: 0.0,
            instructions: Vec::new(),
        }
    }

    pub fn num_qubits(&self) -> usize {
        self.num_qubits
    }

    pub fn num_clbits(&self) -> usize {
        self.num_clbits
    }

    pub fn global_phase(&self) -> f64 {
        self.global_phase
    }

    pub fn set_global_phase(&mut self, phase: f64) -> Result<()> {
        check_params("global_phase", &[phase])?;
        self.global_phase = phase.rem_euclid(std::f64::consts::TAU);
        Ok(())
    }

    pub fn instructions(&self) -> &[Instruction] {
        &self.instructions
    }

    /// Appends `count` new clbits after the existing ones.
    pub fn add_clbits(&mut self, count: usize) -> Result<()> {
        let total = self.num_clbits.saturating_add(count);
        check_width("num_clbits", total)?;
        self.num_clbits = total;
        Ok(())
    }

    /// Appends a named gate. `global_phase` (no qubits, one parameter) adds to
    /// the circuit's global phase.
    pub fn append_gate(&mut self, name: &str, qubits: &[i64], params: &[f64]) -> Result<()> {
        if name == "global_phase" {
            if !qubits.is_empty() {
                return Err(Error::WrongQubitCount {
                    gate: name.into(),
                    expected: "0".into(),
                    got: qubits.len(),
                });
            }
            if params.len() != 1 {
                return Err(Error::WrongParamCount {
                    gate: name.into(),
                    expected: 1,
                    got: params.len(),
                });
            }
            check_params(name, params)?;
            return self.set_global_phase(self.global_phase + params[0]);
        }
        self.append_kind(GateKind::from_name(name)?, qubits, params)
    }

    /// [`Circuit::append_gate`] for a gate already looked up by name.
    pub(crate) fn append_kind(
        &mut self,
        kind: GateKind,
        qubits: &[i64],
        params: &[f64],
    ) -> Result<()> {
        let name = kind.name();
        match kind.num_qubits() {
            Some(n) if n != qubits.len() => {
                return Err(Error::WrongQubitCount {
                    gate: name.into(),
                    expected: n.to_string(),
                    got: qubits.len(),
                });
            }
            None if qubits.is_empty() => {
                return Err(Error::WrongQubitCount {
                    gate: name.into(),
                    expected: "at least 1".into(),
                    got: 0,
                });
            }
            _ => {}
        }
        if params.len() != kind.num_params() {
            return Err(Error::WrongParamCount {
                gate: name.into(),
                expected: kind.num_params(),
                got: params.len(),
            });
        }
        check_params(name, params)?;
        let qubits = check_qubits(name, qubits, self.num_qubits)?;
        self.instructions.push(Instruction::Gate {
            kind,
            qubits,
            params: params.to_vec(),
        });
        Ok(())
    }

    /// Appends an arbitrary unitary; `qubits[0]` is the least significant bit
    /// of the matrix index. `data` is row-major with `rows * cols` entries.
    pub fn append_unitary(
        &mut self,
        data: Vec<num_complex::Complex64>,
        rows: usize,
        cols: usize,
        qubits: &[i64],
    ) -> Result<()> {
        self.append_unitary_until(data, rows, cols, qubits, &AtomicBool::new(false))
    }

    /// [`Circuit::append_unitary`], giving up with [`Error::Interrupted`]
    /// (and appending nothing) once another thread sets `stop`: the
    /// unitarity check is cubic in the matrix's dimension, seconds for a
    /// 2^11-dimensional matrix.
    pub fn append_unitary_until(
        &mut self,
        data: Vec<num_complex::Complex64>,
        rows: usize,
        cols: usize,
        qubits: &[i64],
        stop: &AtomicBool,
    ) -> Result<()> {
        if qubits.is_empty() {
            return Err(Error::WrongQubitCount {
                gate: "unitary".into(),
                expected: "at least 1".into(),
                got: 0,
            });
        }
        let qubits = check_qubits("unitary", qubits, self.num_qubits)?;
        // Anything wider than 2^20 columns would not fit in memory anyway, and
        // the bound keeps the shift below from overflowing.
        let dim = if qubits.len() < 21 {
            1usize << qubits.len()
        } else {
            usize::MAX
        };
        if rows != dim || cols != dim || data.len() != rows * cols {
            return Err(Error::BadMatrixShape {
                rows,
                cols,
                num_qubits: qubits.len(),
                dim,
            });
        }
        let matrix = Matrix::from_rows(dim, data);
        if !matrix.is_finite() {
            return Err(Error::NonFiniteMatrix);
        }
        let deviation = matrix
            .unitarity_deviation_until(stop)
            .ok_or(Error::Interrupted)?;
        if deviation.is_nan() || deviation > UNITARY_TOLERANCE {
            return Err(Error::NotUnitary { deviation });
        }
        self.instructions.push(Instruction::Unitary {
            qubits,
            matrix: Arc::new(matrix),
        });
        Ok(())
    }

    /// Sets the whole register's state to `state` (Aer's `set_statevector`):
    /// `2^n` finite amplitudes, qubit 0 the least significant bit, of norm 1
    /// within [`STATE_NORM_TOLERANCE`].
    pub fn set_statevector(&mut self, state: Vec<num_complex::Complex64>) -> Result<()> {
        let n = self.num_qubits;
        let dim = if n < 64 { 1usize << n } else { usize::MAX };
        if state.len() != dim {
            return Err(Error::InvalidCircuit(format!(
                "set_statevector: a state of {} amplitudes for {n} qubits (it needs 2^{n})",
                state.len()
            )));
        }
        if !state.iter().all(|z| z.re.is_finite() && z.im.is_finite()) {
            return Err(Error::InvalidCircuit(
                "set_statevector: the state has a non-finite amplitude (NaN or infinity)".into(),
            ));
        }
        let norm: f64 = state.iter().map(|z| z.norm_sqr()).sum();
        if (norm - 1.0).abs() > STATE_NORM_TOLERANCE {
            return Err(Error::InvalidCircuit(format!(
                "set_statevector: the state's norm squared is {norm}, not 1 (within {STATE_NORM_TOLERANCE:e})"
            )));
        }
        self.instructions.push(Instruction::SetStatevector {
            state: Arc::new(state),
            qubits: (0..n).collect(),
        });
        Ok(())
    }

    pub fn measure(&mut self, qubit: i64, clbit: i64) -> Result<()> {
        let qubit = check_qubits("measure", &[qubit], self.num_qubits)?[0];
        if clbit < 0 || clbit as u64 >= self.num_clbits as u64 {
            return Err(Error::ClbitOutOfRange {
                gate: "measure".into(),
                clbit,
                num_clbits: self.num_clbits,
            });
        }
        self.instructions.push(Instruction::Measure {
            qubit,
            clbit: clbit as usize,
        });
        Ok(())
    }

    pub fn reset(&mut self, qubit: i64) -> Result<()> {
        let qubit = check_qubits("reset", &[qubit], self.num_qubits)?[0];
        self.instructions.push(Instruction::Reset { qubit });
        Ok(())
    }

    /// A barrier over `qubits` (all qubits when empty).
    pub fn barrier(&mut self, qubits: &[i64]) -> Result<()> {
        let qubits = if qubits.is_empty() {
            (0..self.num_qubits).collect()
        } else {
            check_qubits("barrier", qubits, self.num_qubits)?
        };
        self.instructions.push(Instruction::Barrier { qubits });
        Ok(())
    }

    /// Appends every instruction of `other`, whose qubits and clbits must
    /// fit in this circuit's, and adds its global phase.
    pub fn compose(&mut self, other: &Circuit) -> Result<()> {
        if other.num_qubits > self.num_qubits || other.num_clbits > self.num_clbits {
            return Err(Error::InvalidCircuit(format!(
                "compose: a circuit of {} qubits and {} clbits does not fit in one of {} qubits and {} clbits",
                other.num_qubits, other.num_clbits, self.num_qubits, self.num_clbits
            )));
        }
        // The saves of `other` must be as valid here as if they had been added
        // with `save`: otherwise this circuit could not be encoded and decoded.
        let mut labels: std::collections::HashSet<&str> = self.save_labels().collect();
        for inst in &other.instructions {
            if let Instruction::Save { kind, label, .. } = inst {
                self.check_save_target(kind.name())?;
                if !labels.insert(label) {
                    return Err(Error::InvalidCircuit(format!(
                        "compose: the label '{label}' of '{}' is already used",
                        kind.name()
                    )));
                }
            }
        }
        self.instructions.extend(other.instructions.iter().cloned());
        self.set_global_phase(self.global_phase + other.global_phase)
    }

    /// Appends a save instruction: `kind` is `statevector`, `probabilities`,
    /// `probabilities_dict`, `amplitudes` (with basis-state `indices`) or
    /// `expectation_value` (with `terms`: Pauli labels over `qubits`, the
    /// rightmost character acting on `qubits[0]`, and their coefficients).
    /// Empty `qubits` means all qubits.
    pub fn save(
        &mut self,
        kind: &str,
        label: &str,
        qubits: &[i64],
        indices: &[u64],
        terms: &[(String, num_complex::Complex64)],
    ) -> Result<()> {
        self.save_as(kind, label, qubits, indices, terms, SaveMode::Average)
    }

    /// [`Circuit::save`] with its values gathered over the shots as `mode` says.
    pub fn save_as(
        &mut self,
        kind: &str,
        label: &str,
        qubits: &[i64],
        indices: &[u64],
        terms: &[(String, num_complex::Complex64)],
        mode: SaveMode,
    ) -> Result<()> {
        let gate = format!("save_{kind}");
        self.check_save_target(&gate)?;
        if self.save_labels().any(|l| l == label) {
            return Err(Error::InvalidCircuit(format!(
                "{gate}: the label '{label}' is already used"
            )));
        }
        let qubits = if qubits.is_empty() {
            (0..self.num_qubits).collect()
        } else {
            check_qubits(&gate, qubits, self.num_qubits)?
        };
        let kind = match kind {
            "statevector" => SaveKind::Statevector,
            "probabilities" => SaveKind::Probabilities,
            "probabilities_dict" => SaveKind::ProbabilitiesDict,
            "amplitudes" => {
                if let Some(&bad) = indices.iter().find(|&&i| i >> self.num_qubits != 0) {
                    return Err(Error::InvalidCircuit(format!(
                        "{gate}: basis state {bad} is out of range for {} qubits",
                        self.num_qubits
                    )));
                }
                SaveKind::Amplitudes(indices.to_vec())
            }
            "expectation_value" => {
                let mut parsed = Vec::with_capacity(terms.len());
                for (text, coeff) in terms {
                    if !(coeff.re.is_finite() && coeff.im.is_finite()) {
                        return Err(Error::InvalidCircuit(format!(
                            "{gate}: the coefficient of '{text}' is not finite"
                        )));
                    }
                    if text.chars().count() != qubits.len() {
                        return Err(Error::InvalidCircuit(format!(
                            "{gate}: Pauli '{text}' has {} letters for {} qubits",
                            text.chars().count(),
                            qubits.len()
                        )));
                    }
                    let (mut x, mut z) = (0u64, 0u64);
                    for (j, letter) in text.chars().rev().enumerate() {
                        let bit = 1u64 << qubits[j];
                        match letter {
                            'I' => {}
                            'X' => x |= bit,
                            'Z' => z |= bit,
                            'Y' => {
                                x |= bit;
                                z |= bit;
                            }
                            other => {
                                return Err(Error::InvalidCircuit(format!(
                                    "{gate}: '{other}' in '{text}' is not one of I, X, Y, Z"
                                )));
                            }
                        }
                    }
                    parsed.push(PauliTerm {
                        x,
                        z,
                        coeff: *coeff,
                    });
                }
                SaveKind::ExpectationValue(parsed)
            }
            other => return Err(Error::UnknownGate(format!("save_{other}"))),
        };
        self.instructions.push(Instruction::Save {
            kind,
            label: label.to_string(),
            qubits,
            mode,
        });
        Ok(())
    }

    fn save_labels(&self) -> impl Iterator<Item = &str> {
        self.instructions.iter().filter_map(|i| match i {
            Instruction::Save { label, .. } => Some(label.as_str()),
            _ => None,
        })
    }

    /// Whether a save may be added to this circuit at all (labels aside).
    fn check_save_target(&self, gate: &str) -> Result<()> {
        if self.num_qubits > 63 {
            return Err(Error::InvalidCircuit(format!(
                "{gate}: circuits over 63 qubits cannot be saved"
            )));
        }
        Ok(())
    }

    pub fn has_non_unitary(&self) -> bool {
        self.instructions.iter().any(Instruction::is_non_unitary)
    }

    /// The adjoint circuit: instructions reversed, each replaced by its inverse.
    pub fn inverse(&self) -> Result<Circuit> {
        let mut out = Circuit::new(self.num_qubits, self.num_clbits);
        out.name = self.name.as_ref().map(|n| format!("{n}_dg"));
        out.global_phase = (-self.global_phase).rem_euclid(std::f64::consts::TAU);
        for inst in self.instructions.iter().rev() {
            out.instructions.push(match inst {
                Instruction::Gate {
                    kind,
                    qubits,
                    params,
                } => inverse_gate(*kind, qubits, params),
                Instruction::Unitary { qubits, matrix } => Instruction::Unitary {
                    qubits: qubits.clone(),
                    matrix: Arc::new(matrix.adjoint()),
                },
                Instruction::Barrier { qubits } => Instruction::Barrier {
                    qubits: qubits.clone(),
                },
                _ => {
                    return Err(Error::InvalidCircuit(format!(
                        "cannot invert a circuit containing '{}'",
                        inst.name()
                    )));
                }
            });
        }
        Ok(out)
    }
}

fn inverse_gate(kind: GateKind, qubits: &[usize], params: &[f64]) -> Instruction {
    use GateKind::*;
    let gate = |kind: GateKind, params: Vec<f64>| Instruction::Gate {
        kind,
        qubits: qubits.to_vec(),
        params,
    };
    let neg: Vec<f64> = params.iter().map(|p| -p).collect();
    match kind {
        Id | X | Y | Z | H | Cx | Cy | Cz | Ch | Swap | Ecr | Ccx | Ccz | Cswap | Mcx => {
            gate(kind, vec![])
        }
        S => gate(Sdg, vec![]),
        Sdg => gate(S, vec![]),
        T => gate(Tdg, vec![]),
        Tdg => gate(T, vec![]),
        Sx => gate(Sxdg, vec![]),
        Sxdg => gate(Sx, vec![]),
        Cs => gate(Csdg, vec![]),
        Csdg => gate(Cs, vec![]),
        P | U1 | Rx | Ry | Rz | Cp | Cu1 | Crx | Cry | Crz | Rxx | Ryy | Rzz | Rzx => {
            gate(kind, neg)
        }
        R => gate(R, vec![-params[0], params[1]]),
        XxPlusYy | XxMinusYy => gate(kind, vec![-params[0], params[1]]),
        U | U3 | Cu3 => gate(kind, vec![-params[0], -params[2], -params[1]]),
        U2 => gate(
            U,
            vec![-std::f64::consts::FRAC_PI_2, -params[1], -params[0]],
        ),
        Cu => gate(Cu, vec![-params[0], -params[2], -params[1], -params[3]]),
        Dcx => Instruction::Gate {
            kind: Dcx,
            qubits: vec![qubits[1], qubits[0]],
            params: vec![],
        },
        Csx | Iswap | Rccx => Instruction::Unitary {
            qubits: qubits.to_vec(),
            matrix: Arc::new(kind.full_matrix(qubits.len(), params).adjoint()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_bounded_where_users_set_them() {
        assert!(Circuit::with_width(MAX_WIDTH, MAX_WIDTH).is_ok());
        for (q, c) in [(MAX_WIDTH + 1, 0), (0, MAX_WIDTH + 1), (usize::MAX, 0)] {
            let err = Circuit::with_width(q, c).unwrap_err();
            assert!(err.to_string().contains("more than"), "{err}");
        }
        let mut c = Circuit::new(1, 200);
        assert!(c.add_clbits(usize::MAX - 100).is_err());
        assert_eq!(c.num_clbits(), 200, "a refused add changes nothing");
        c.add_clbits(5).unwrap();
        assert_eq!(c.num_clbits(), 205);
    }

    #[test]
    fn append_validates_everything() {
        let mut c = Circuit::new(3, 1);
        assert!(c.append_gate("h", &[0], &[]).is_ok());
        assert!(matches!(
            c.append_gate("h", &[3], &[]),
            Err(Error::QubitOutOfRange { qubit: 3, .. })
        ));
        assert!(matches!(
            c.append_gate("cx", &[1, 1], &[]),
            Err(Error::DuplicateQubit { qubit: 1, .. })
        ));
        assert!(matches!(
            c.append_gate("rx", &[0], &[]),
            Err(Error::WrongParamCount {
                expected: 1,
                got: 0,
                ..
            })
        ));
        assert!(matches!(
            c.append_gate("rx", &[0], &[f64::NAN]),
            Err(Error::NonFiniteParam { .. })
        ));
        assert!(matches!(
            c.append_gate("foo", &[0], &[]),
            Err(Error::UnknownGate(_))
        ));
        assert!(matches!(
            c.measure(0, 1),
            Err(Error::ClbitOutOfRange { .. })
        ));
        assert_eq!(c.instructions().len(), 1);
    }

    #[test]
    fn every_gate_matrix_is_unitary() {
        for &kind in GateKind::ALL {
            let n = kind.num_qubits().unwrap_or(4);
            let params: Vec<f64> = (0..kind.num_params())
                .map(|i| 0.3 + 0.7 * i as f64)
                .collect();
            let m = kind.full_matrix(n, &params);
            assert!(
                m.unitarity_deviation() < 1e-12,
                "{} is not unitary",
                kind.name()
            );
        }
    }

    #[test]
    fn named_inverses_are_adjoints() {
        for &kind in GateKind::ALL {
            let n = kind.num_qubits().unwrap_or(3);
            let params: Vec<f64> = (0..kind.num_params())
                .map(|i| 0.4 - 1.1 * i as f64)
                .collect();
            let qubits: Vec<usize> = (0..n).collect();
            let inv = inverse_gate(kind, &qubits, &params);
            let inv_matrix = match inv {
                Instruction::Gate {
                    kind: k,
                    qubits: q,
                    params: p,
                } => {
                    let m = k.full_matrix(n, &p);
                    if q == qubits { m } else { swap_two(&m) }
                }
                Instruction::Unitary { matrix, .. } => (*matrix).clone(),
                _ => unreachable!(),
            };
            let product = inv_matrix.matmul(&kind.full_matrix(n, &params));
            let eye = Matrix::identity(product.dim());
            let err = product
                .data()
                .iter()
                .zip(eye.data())
                .map(|(a, b)| (a - b).norm())
                .fold(0.0, f64::max);
            assert!(err < 1e-12, "inverse of {} is wrong by {err}", kind.name());
        }
    }

    /// The matrix of a 2-qubit gate applied with its qubits swapped.
    fn swap_two(m: &Matrix) -> Matrix {
        let sw = |i: usize| ((i & 1) << 1) | ((i >> 1) & 1);
        let mut data = vec![num_complex::Complex64::new(0.0, 0.0); 16];
        for r in 0..4 {
            for c in 0..4 {
                data[sw(r) * 4 + sw(c)] = m.get(r, c);
            }
        }
        Matrix::from_rows(4, data)
    }
}
