//! A compact, versioned binary form of a circuit, for pickling and shipping
//! circuits to other processes.
//!
//! Layout (integers and floats little endian):
//!
//! ```text
//! magic "FQC1" | version u16 | flags u8 (bit 0: has a name) | index width u8 (1, 2, 4 or 8)
//! num_qubits u64 | num_clbits u64 | global_phase f64 | [name: len u64, UTF-8]
//! instruction count u64, then each instruction: tag u8, then its fields
//! ```
//!
//! Qubit and clbit indices take `index width` bytes each (the narrowest that
//! holds every index of the circuit, so most circuits spend one byte per
//! index); lists and strings carry a u64 length. A named gate's qubit count
//! (except `mcx`'s) and parameter count follow from its tag and are not
//! written. See [`Tag`] for the fields of each instruction.
//!
//! Decoding trusts nothing: every length is checked against the bytes left
//! before anything is allocated for it, and the circuit is rebuilt through the
//! same validating methods as one built by hand (`append_gate`,
//! `append_unitary`, `measure`, `save`...), so a decoded circuit is exactly as
//! valid as any other.

use super::control::{BinaryOp, Expr, MAX_NESTING, UnaryOp};
use super::{Circuit, Instruction, PauliTerm, SaveKind, SaveMode};
use crate::circuit::gates::GateKind;
use crate::error::{Error, Result};
use crate::wire::{self, Reader, invalid};
use num_complex::Complex64;
use std::sync::atomic::AtomicBool;

const MAGIC: &[u8; 4] = b"FQC1";
/// Bumped on any change of layout. Version 2 added control flow, version 3
/// `set_statevector`; a decoder reads its own version and the earlier ones it
/// extends.
pub const FORMAT_VERSION: u16 = 3;
const OLDEST_READ: u16 = 1;
const FLAG_NAME: u8 = 1;
const HEADER_BYTES: usize = 4 + 2 + 1 + 1 + 8 + 8 + 8;
/// Bytes of one Pauli term: x mask, z mask, coefficient.
const TERM_BYTES: usize = 8 + 8 + 16;

/// Instruction tags. Named gates have codes of their own ([`gate_code`]), from
/// [`GATE_BASE`] up.
struct Tag;

impl Tag {
    /// k u64, k qubits, then 4^k entries (re f64, im f64), row-major.
    const UNITARY: u8 = 0x01;
    /// qubit, clbit.
    const MEASURE: u8 = 0x02;
    /// qubit.
    const RESET: u8 = 0x03;
    /// k u64, k qubits.
    const BARRIER: u8 = 0x04;
    /// 2^n amplitudes (re f64, im f64), n the circuit's width (format 3).
    const SET_STATEVECTOR: u8 = 0x05;
    /// mode u8 (1 per shot, 2 conditional, 3 conditional per shot, 4 the
    /// last shot's), then a
    /// save instruction gathered that way (format 3; a save without it is
    /// averaged).
    const SAVE_MODE: u8 = 0x0d;
    // Saves: label (len u64, UTF-8), k u64, k qubits, then:
    const SAVE_STATEVECTOR: u8 = 0x08;
    const SAVE_PROBABILITIES: u8 = 0x09;
    const SAVE_PROBABILITIES_DICT: u8 = 0x0a;
    /// ... n u64, n basis states u64.
    const SAVE_AMPLITUDES: u8 = 0x0b;
    /// ... n u64, n terms (x u64, z u64, re f64, im f64).
    const SAVE_EXPECTATION_VALUE: u8 = 0x0c;
    /// condition, then block, else block (a block: count u64, instructions).
    const IF_ELSE: u8 = 0x10;
    /// condition, block.
    const WHILE_LOOP: u8 = 0x11;
    /// target, case count u64, each case (value count u64, values u64, block),
    /// then 0 or 1 u8 and the default block if 1.
    const SWITCH_CASE: u8 = 0x12;
    const BREAK_LOOP: u8 = 0x13;
    const CONTINUE_LOOP: u8 = 0x14;
    /// k u64, k clbits, then an expression (format 3).
    const STORE: u8 = 0x15;
}

/// Expression tags: a clbit (index), a register (count u64, indices), a value
/// (u64), not (expression), bitwise not (width u64, expression), a binary
/// operation (operator u8, two expressions).
struct ExprTag;

impl ExprTag {
    const BIT: u8 = 0;
    const REGISTER: u8 = 1;
    const VALUE: u8 = 2;
    const NOT: u8 = 3;
    const BIT_NOT: u8 = 4;
    const BINARY: u8 = 5;
}

/// Wire codes of the binary operators: spelled out, as the gate codes are.
const fn binary_code(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::And => 0,
        BinaryOp::Or => 1,
        BinaryOp::BitAnd => 2,
        BinaryOp::BitOr => 3,
        BinaryOp::BitXor => 4,
        BinaryOp::Eq => 5,
        BinaryOp::Ne => 6,
        BinaryOp::Lt => 7,
        BinaryOp::Le => 8,
        BinaryOp::Gt => 9,
        BinaryOp::Ge => 10,
    }
}

/// First gate code. A named gate is its code, its qubits (`mcx`: k u64 first)
/// and its parameters (f64).
const GATE_BASE: u8 = 0x20;

/// The wire code of each gate: spelled out rather than derived from
/// `GateKind::ALL`'s order, so that reordering the gate table cannot change
/// the format.
const fn gate_code(kind: GateKind) -> u8 {
    use GateKind::*;
    GATE_BASE
        + match kind {
            Id => 0,
            X => 1,
            Y => 2,
            Z => 3,
            H => 4,
            S => 5,
            Sdg => 6,
            T => 7,
            Tdg => 8,
            Sx => 9,
            Sxdg => 10,
            P => 11,
            R => 12,
            Rx => 13,
            Ry => 14,
            Rz => 15,
            U => 16,
            U1 => 17,
            U2 => 18,
            U3 => 19,
            Cx => 20,
            Cy => 21,
            Cz => 22,
            Ch => 23,
            Cs => 24,
            Csdg => 25,
            Csx => 26,
            Cp => 27,
            Crx => 28,
            Cry => 29,
            Crz => 30,
            Cu => 31,
            Cu1 => 32,
            Cu3 => 33,
            Swap => 34,
            Iswap => 35,
            Dcx => 36,
            Ecr => 37,
            Rxx => 38,
            Ryy => 39,
            Rzz => 40,
            Rzx => 41,
            XxPlusYy => 42,
            XxMinusYy => 43,
            Ccx => 44,
            Ccz => 45,
            Cswap => 46,
            Rccx => 47,
            Mcx => 48,
        }
}

/// Tag -> gate, built at compile time; two gates with one code fail the build.
const GATE_BY_CODE: [Option<GateKind>; 256] = {
    let mut table = [None; 256];
    let mut i = 0;
    while i < GateKind::ALL.len() {
        let kind = GateKind::ALL[i];
        let code = gate_code(kind) as usize;
        assert!(table[code].is_none(), "two gates share a wire code");
        table[code] = Some(kind);
        i += 1;
    }
    table
};

/// Bytes per index for indices below `bound`.
fn index_width(bound: usize) -> usize {
    match bound.saturating_sub(1) as u64 {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xffff_ffff => 4,
        _ => 8,
    }
}

/// The wire writer, with the index width of the circuit being written.
struct Writer {
    w: wire::Writer,
    width: usize,
}

impl std::ops::Deref for Writer {
    type Target = wire::Writer;
    fn deref(&self) -> &wire::Writer {
        &self.w
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut wire::Writer {
        &mut self.w
    }
}

impl Writer {
    fn index(&mut self, i: usize) {
        self.w
            .out
            .extend_from_slice(&(i as u64).to_le_bytes()[..self.width]);
    }

    fn indices(&mut self, list: &[usize]) {
        for &i in list {
            self.index(i);
        }
    }

    fn block(&mut self, body: &[Instruction]) {
        self.len(body.len());
        for inst in body {
            self.instruction(inst);
        }
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Bit(c) => {
                self.u8(ExprTag::BIT);
                self.index(*c);
            }
            Expr::Register(bits) => {
                self.u8(ExprTag::REGISTER);
                self.len(bits.len());
                self.indices(bits);
            }
            Expr::Value(v) => {
                self.u8(ExprTag::VALUE);
                self.u64(*v);
            }
            Expr::Unary(UnaryOp::Not, a) => {
                self.u8(ExprTag::NOT);
                self.expr(a);
            }
            Expr::Unary(UnaryOp::BitNot(width), a) => {
                self.u8(ExprTag::BIT_NOT);
                self.u64(u64::from(*width));
                self.expr(a);
            }
            Expr::Binary(op, a, b) => {
                self.u8(ExprTag::BINARY);
                self.u8(binary_code(*op));
                self.expr(a);
                self.expr(b);
            }
        }
    }

    fn instruction(&mut self, inst: &Instruction) {
        let w = self;
        match inst {
            Instruction::IfElse {
                condition,
                then_body,
                else_body,
                ..
            } => {
                w.u8(Tag::IF_ELSE);
                w.expr(condition);
                w.block(then_body);
                w.block(else_body);
            }
            Instruction::WhileLoop {
                condition, body, ..
            } => {
                w.u8(Tag::WHILE_LOOP);
                w.expr(condition);
                w.block(body);
            }
            Instruction::SwitchCase {
                target,
                cases,
                default,
                ..
            } => {
                w.u8(Tag::SWITCH_CASE);
                w.expr(target);
                w.len(cases.len());
                for (values, body) in cases {
                    w.len(values.len());
                    values.iter().for_each(|&v| w.u64(v));
                    w.block(body);
                }
                match default {
                    Some(body) => {
                        w.u8(1);
                        w.block(body);
                    }
                    None => w.u8(0),
                }
            }
            Instruction::BreakLoop => w.u8(Tag::BREAK_LOOP),
            Instruction::ContinueLoop => w.u8(Tag::CONTINUE_LOOP),
            Instruction::Store { targets, value } => {
                w.u8(Tag::STORE);
                w.len(targets.len());
                w.indices(targets);
                w.expr(value);
            }
            Instruction::Gate {
                kind,
                qubits,
                params,
            } => {
                w.u8(gate_code(*kind));
                if kind.num_qubits().is_none() {
                    w.len(qubits.len());
                }
                w.indices(qubits);
                for &p in params {
                    w.f64(p);
                }
            }
            Instruction::Unitary { qubits, matrix } => {
                w.u8(Tag::UNITARY);
                w.len(qubits.len());
                w.indices(qubits);
                for z in matrix.data() {
                    w.f64(z.re);
                    w.f64(z.im);
                }
            }
            Instruction::Measure { qubit, clbit } => {
                w.u8(Tag::MEASURE);
                w.index(*qubit);
                w.index(*clbit);
            }
            Instruction::Reset { qubit } => {
                w.u8(Tag::RESET);
                w.index(*qubit);
            }
            Instruction::SetStatevector { state, .. } => {
                w.u8(Tag::SET_STATEVECTOR);
                for z in state.iter() {
                    w.f64(z.re);
                    w.f64(z.im);
                }
            }
            Instruction::Barrier { qubits } => {
                w.u8(Tag::BARRIER);
                w.len(qubits.len());
                w.indices(qubits);
            }
            Instruction::Save {
                kind,
                label,
                qubits,
                mode,
            } => {
                if *mode != SaveMode::Average {
                    w.u8(Tag::SAVE_MODE);
                    w.u8(save_mode_code(*mode));
                }
                w.u8(match kind {
                    SaveKind::Statevector => Tag::SAVE_STATEVECTOR,
                    SaveKind::Probabilities => Tag::SAVE_PROBABILITIES,
                    SaveKind::ProbabilitiesDict => Tag::SAVE_PROBABILITIES_DICT,
                    SaveKind::Amplitudes(_) => Tag::SAVE_AMPLITUDES,
                    SaveKind::ExpectationValue(_) => Tag::SAVE_EXPECTATION_VALUE,
                });
                w.str(label);
                w.len(qubits.len());
                w.indices(qubits);
                match kind {
                    SaveKind::Amplitudes(indices) => {
                        w.len(indices.len());
                        for &i in indices {
                            w.u64(i);
                        }
                    }
                    SaveKind::ExpectationValue(terms) => {
                        w.len(terms.len());
                        for t in terms {
                            w.u64(t.x);
                            w.u64(t.z);
                            w.f64(t.coeff.re);
                            w.f64(t.coeff.im);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

impl Circuit {
    /// The circuit in the binary form described in the module documentation;
    /// [`Circuit::from_bytes`] reads it back.
    pub fn to_bytes(&self) -> Vec<u8> {
        let width = index_width(self.num_qubits.max(self.num_clbits));
        let name_len = self.name.as_ref().map_or(0, |n| 8 + n.len());
        // About right for gates on one or two qubits with a parameter or two.
        let estimate = HEADER_BYTES + name_len + 8 + self.instructions.len() * (3 + 2 * width + 8);
        let mut w = Writer {
            w: wire::Writer::with_capacity(estimate),
            width,
        };
        w.out.extend_from_slice(MAGIC);
        w.out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        w.u8(if self.name.is_some() { FLAG_NAME } else { 0 });
        w.u8(width as u8);
        w.len(self.num_qubits);
        w.len(self.num_clbits);
        w.f64(self.global_phase);
        if let Some(name) = &self.name {
            w.str(name);
        }
        w.block(&self.instructions);
        w.w.out
    }

    /// Reads a circuit written by [`Circuit::to_bytes`], validating it as
    /// if it were built by hand. Anything else is refused with
    /// [`Error::InvalidEncoding`], which names the problem and its byte offset.
    pub fn from_bytes(data: &[u8]) -> Result<Circuit> {
        Circuit::from_bytes_until(data, &AtomicBool::new(false))
    }

    /// [`Circuit::from_bytes`], giving up with [`Error::Interrupted`] once
    /// another thread sets `stop` (decoding re-checks every `unitary`, which
    /// is cubic in its dimension).
    pub fn from_bytes_until(data: &[u8], stop: &AtomicBool) -> Result<Circuit> {
        Decoder {
            stop,
            r: Reader::new(data),
            width: 1,
            qubits: Vec::new(),
            params: Vec::new(),
            depth: 0,
        }
        .circuit()
    }
}

struct Decoder<'a> {
    stop: &'a AtomicBool,
    r: Reader<'a>,
    /// Bytes per qubit or clbit index.
    width: usize,
    /// Scratch buffers reused by every instruction.
    qubits: Vec<i64>,
    params: Vec<f64>,
    /// Control-flow blocks open around the instruction being read.
    depth: usize,
}

impl Decoder<'_> {
    fn index(&mut self, what: &str) -> Result<i64> {
        let at = self.r.pos;
        let bytes = self.r.take(self.width, what)?;
        let mut raw = [0u8; 8];
        raw[..bytes.len()].copy_from_slice(bytes);
        let v = u64::from_le_bytes(raw);
        // Out of range for any circuit; the range check proper is the circuit's.
        i64::try_from(v).map_err(|_| invalid(at, format!("{what} {v} is out of range")))
    }

    /// `n` indices into the qubit scratch buffer (`n` already checked against
    /// the bytes left).
    fn qubit_list(&mut self, n: usize) -> Result<()> {
        self.qubits.clear();
        self.qubits.reserve(n);
        for _ in 0..n {
            let q = self.index("qubit")?;
            self.qubits.push(q);
        }
        Ok(())
    }

    /// A length-prefixed qubit list into the scratch buffer.
    fn counted_qubits(&mut self, what: &str) -> Result<()> {
        let n = self.r.count(self.width, what)?;
        self.qubit_list(n)
    }

    fn circuit(mut self) -> Result<Circuit> {
        let r = &mut self.r;
        if r.take(MAGIC.len(), "magic bytes").ok() != Some(&MAGIC[..]) {
            return Err(invalid(
                0,
                "not an encoded ferroq circuit (wrong magic bytes)".into(),
            ));
        }
        let version = u16::from_le_bytes(r.array::<2>("format version")?);
        if !(OLDEST_READ..=FORMAT_VERSION).contains(&version) {
            return Err(invalid(
                MAGIC.len(),
                format!(
                    "format version {version} is not supported (this ferroq reads versions {OLDEST_READ} to {FORMAT_VERSION})"
                ),
            ));
        }
        let flags_at = r.pos;
        let flags = r.u8("flags")?;
        if flags & !FLAG_NAME != 0 {
            return Err(invalid(flags_at, format!("unknown flags {flags:#04x}")));
        }
        let width_at = r.pos;
        self.width = match r.u8("index width")? {
            w @ (1 | 2 | 4 | 8) => w as usize,
            w => {
                return Err(invalid(
                    width_at,
                    format!("index width {w} is not 1, 2, 4 or 8"),
                ));
            }
        };
        let widths_at = r.pos;
        let num_qubits = r.usize("num_qubits")?;
        let num_clbits = r.usize("num_clbits")?;
        let phase_at = r.pos;
        let phase = r.f64("global phase")?;
        // What `set_global_phase` stores: rem_euclid can round up to 2 pi itself.
        if !(0.0..=std::f64::consts::TAU).contains(&phase) {
            return Err(invalid(
                phase_at,
                format!("global phase {phase} is not in [0, 2 pi]"),
            ));
        }
        let mut circuit = Circuit::with_width(num_qubits, num_clbits)
            .map_err(|e| invalid(widths_at, e.to_string()))?;
        circuit.global_phase = phase;
        if flags & FLAG_NAME != 0 {
            circuit.name = Some(r.str("name length")?.to_string());
        }
        // The smallest instruction is a tag and one index.
        let count = r.count(1 + self.width, "instruction count")?;
        circuit.instructions.reserve(count);
        for index in 0..count {
            let start = self.r.pos;
            self.instruction(&mut circuit).map_err(|err| match err {
                Error::InvalidEncoding { .. } => err,
                other => invalid(start, format!("instruction {index}: {other}")),
            })?;
        }
        if self.r.remaining() != 0 {
            return Err(invalid(
                self.r.pos,
                format!(
                    "{} trailing byte(s) after the last instruction",
                    self.r.remaining()
                ),
            ));
        }
        Ok(circuit)
    }

    fn instruction(&mut self, circuit: &mut Circuit) -> Result<()> {
        let tag_at = self.r.pos;
        let tag = self.r.u8("instruction tag")?;
        if let Some(kind) = GATE_BY_CODE[tag as usize] {
            match kind.num_qubits() {
                Some(n) => self.qubit_list(n)?,
                None => self.counted_qubits("qubit count")?,
            }
            self.params.clear();
            for _ in 0..kind.num_params() {
                let p = self.r.f64("gate parameter")?;
                self.params.push(p);
            }
            return circuit.append_kind(kind, &self.qubits, &self.params);
        }
        match tag {
            Tag::UNITARY => {
                self.counted_qubits("unitary qubit count")?;
                let k = self.qubits.len();
                let at = self.r.pos;
                // 4^k entries of 16 bytes, checked before computing anything from k.
                let entries = (k < 32).then(|| 1u64 << (2 * k));
                let bytes = entries.and_then(|e| e.checked_mul(16));
                let Some(entries) =
                    entries.filter(|_| bytes.is_some_and(|b| b <= self.r.remaining() as u64))
                else {
                    return Err(invalid(
                        at,
                        format!(
                            "truncated: a unitary on {k} qubits needs 16 * 4^{k} bytes, {} left",
                            self.r.remaining()
                        ),
                    ));
                };
                let dim = 1usize << k;
                let mut data = Vec::with_capacity(entries as usize);
                for _ in 0..entries {
                    let re = self.r.f64("matrix entry")?;
                    let im = self.r.f64("matrix entry")?;
                    data.push(Complex64::new(re, im));
                }
                circuit.append_unitary_until(data, dim, dim, &self.qubits, self.stop)
            }
            Tag::MEASURE => {
                let qubit = self.index("qubit")?;
                let clbit = self.index("clbit")?;
                circuit.measure(qubit, clbit)
            }
            Tag::RESET => {
                let qubit = self.index("qubit")?;
                circuit.reset(qubit)
            }
            Tag::SET_STATEVECTOR => {
                let n = circuit.num_qubits;
                let at = self.r.pos;
                // 2^n amplitudes of 16 bytes, checked before allocating.
                let entries = (n < 60).then(|| 1u64 << n);
                let Some(entries) = entries.filter(|e| e * 16 <= self.r.remaining() as u64) else {
                    return Err(invalid(
                        at,
                        format!(
                            "truncated: a state of {n} qubits needs 16 * 2^{n} bytes, {} left",
                            self.r.remaining()
                        ),
                    ));
                };
                let mut state = Vec::with_capacity(entries as usize);
                for _ in 0..entries {
                    let re = self.r.f64("amplitude")?;
                    let im = self.r.f64("amplitude")?;
                    state.push(Complex64::new(re, im));
                }
                circuit.set_statevector(state)
            }
            Tag::BARRIER => {
                self.counted_qubits("barrier qubit count")?;
                // An empty list means "every qubit" to `barrier`, which would
                // allocate a list as long as the header says: never written.
                if self.qubits.is_empty() && circuit.num_qubits > 0 {
                    return Err(invalid(tag_at, "a barrier lists no qubits".into()));
                }
                circuit.barrier(&self.qubits)
            }
            Tag::SAVE_STATEVECTOR
            | Tag::SAVE_PROBABILITIES
            | Tag::SAVE_PROBABILITIES_DICT
            | Tag::SAVE_AMPLITUDES
            | Tag::SAVE_EXPECTATION_VALUE => self.save(circuit, tag, SaveMode::Average),
            Tag::SAVE_MODE => {
                let at = self.r.pos;
                let code = self.r.u8("save mode")?;
                let mode = match code {
                    1 => SaveMode::PerShot,
                    2 => SaveMode::Conditional,
                    3 => SaveMode::ConditionalPerShot,
                    4 => SaveMode::Single,
                    _ => return Err(invalid(at, format!("unknown save mode {code}"))),
                };
                let at = self.r.pos;
                let tag = self.r.u8("save tag")?;
                if !(Tag::SAVE_STATEVECTOR..=Tag::SAVE_EXPECTATION_VALUE).contains(&tag) {
                    return Err(invalid(
                        at,
                        format!("a save mode before tag {tag:#04x}, not a save"),
                    ));
                }
                self.save(circuit, tag, mode)
            }
            Tag::STORE => {
                let at = self.r.pos;
                let k = self.r.count(1, "store target count")?;
                if k > 64 {
                    return Err(invalid(at, format!("a store into {k} clbits (at most 64)")));
                }
                let targets = (0..k)
                    .map(|_| self.index("store target"))
                    .collect::<Result<Vec<_>>>()?;
                let value = self.expr(0)?;
                circuit.append_store(&targets, value)
            }
            Tag::IF_ELSE => {
                let condition = self.expr(0)?;
                let then_body = self.block(circuit)?;
                let else_body = self.block(circuit)?;
                circuit.append_if_else(condition, &then_body, Some(&else_body))
            }
            Tag::WHILE_LOOP => {
                let condition = self.expr(0)?;
                let body = self.block(circuit)?;
                circuit.append_while(condition, &body)
            }
            Tag::SWITCH_CASE => {
                let target = self.expr(0)?;
                // A case is at least its value count and an empty block.
                let n = self.r.count(16, "case count")?;
                let mut cases = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.r.count(8, "case value count")?;
                    let values = (0..k)
                        .map(|_| self.r.u64("case value"))
                        .collect::<Result<Vec<_>>>()?;
                    cases.push((values, self.block(circuit)?));
                }
                let at = self.r.pos;
                let default = match self.r.u8("default flag")? {
                    0 => None,
                    1 => Some(self.block(circuit)?),
                    f => return Err(invalid(at, format!("default flag {f} is not 0 or 1"))),
                };
                let cases: Vec<(Vec<u64>, &Circuit)> =
                    cases.iter().map(|(v, b)| (v.clone(), b)).collect();
                circuit.append_switch(target, &cases, default.as_ref())
            }
            Tag::BREAK_LOOP => {
                circuit.append_break();
                Ok(())
            }
            Tag::CONTINUE_LOOP => {
                circuit.append_continue();
                Ok(())
            }
            _ => Err(invalid(
                tag_at,
                format!("unknown instruction tag {tag:#04x}"),
            )),
        }
    }

    /// A block of instructions, decoded into a circuit of `parent`'s width
    /// (validated as one built by hand), no deeper than [`MAX_NESTING`].
    fn block(&mut self, parent: &Circuit) -> Result<Circuit> {
        let at = self.r.pos;
        if self.depth >= MAX_NESTING {
            return Err(invalid(
                at,
                format!("control flow nests deeper than {MAX_NESTING} levels"),
            ));
        }
        let mut body = Circuit::new(parent.num_qubits, parent.num_clbits);
        let count = self.r.count(1, "block instruction count")?;
        body.instructions.reserve(count);
        self.depth += 1;
        let outcome = (0..count).try_for_each(|_| self.instruction(&mut body));
        self.depth -= 1;
        outcome.map(|()| body)
    }

    fn expr(&mut self, depth: usize) -> Result<Expr> {
        let at = self.r.pos;
        if depth > MAX_NESTING {
            return Err(invalid(
                at,
                format!("a condition nests deeper than {MAX_NESTING} levels"),
            ));
        }
        let clbit = |d: &mut Self| -> Result<usize> {
            let c = d.index("clbit")?;
            Ok(c as usize)
        };
        Ok(match self.r.u8("expression tag")? {
            ExprTag::BIT => Expr::Bit(clbit(self)?),
            ExprTag::REGISTER => {
                let n = self.r.count(self.width, "register width")?;
                Expr::Register((0..n).map(|_| clbit(self)).collect::<Result<_>>()?)
            }
            ExprTag::VALUE => Expr::Value(self.r.u64("value")?),
            ExprTag::NOT => Expr::Unary(UnaryOp::Not, Box::new(self.expr(depth + 1)?)),
            ExprTag::BIT_NOT => {
                let w_at = self.r.pos;
                let width = self.r.u64("bit width")?;
                let width = u32::try_from(width)
                    .ok()
                    .filter(|w| *w <= 64)
                    .ok_or_else(|| invalid(w_at, format!("bit width {width} is over 64")))?;
                Expr::Unary(UnaryOp::BitNot(width), Box::new(self.expr(depth + 1)?))
            }
            ExprTag::BINARY => {
                let op_at = self.r.pos;
                let code = self.r.u8("operator")?;
                let op = BinaryOp::ALL
                    .into_iter()
                    .find(|op| binary_code(*op) == code)
                    .ok_or_else(|| invalid(op_at, format!("unknown operator {code}")))?;
                let a = self.expr(depth + 1)?;
                let b = self.expr(depth + 1)?;
                Expr::Binary(op, Box::new(a), Box::new(b))
            }
            t => return Err(invalid(at, format!("unknown expression tag {t}"))),
        })
    }

    fn save(&mut self, circuit: &mut Circuit, tag: u8, mode: SaveMode) -> Result<()> {
        let label = self.r.str("label length")?;
        self.counted_qubits("save qubit count")?;
        match tag {
            Tag::SAVE_STATEVECTOR => {
                circuit.save_as("statevector", label, &self.qubits, &[], &[], mode)
            }
            Tag::SAVE_PROBABILITIES => {
                circuit.save_as("probabilities", label, &self.qubits, &[], &[], mode)
            }
            Tag::SAVE_PROBABILITIES_DICT => {
                circuit.save_as("probabilities_dict", label, &self.qubits, &[], &[], mode)
            }
            Tag::SAVE_AMPLITUDES => {
                let n = self.r.count(8, "amplitude count")?;
                let mut indices = Vec::with_capacity(n);
                for _ in 0..n {
                    indices.push(self.r.u64("basis state")?);
                }
                circuit.save_as("amplitudes", label, &self.qubits, &indices, &[], mode)
            }
            _ => {
                let n = self.r.count(TERM_BYTES, "Pauli term count")?;
                let mut terms = Vec::with_capacity(n);
                for _ in 0..n {
                    let at = self.r.pos;
                    let term = PauliTerm {
                        x: self.r.u64("Pauli x mask")?,
                        z: self.r.u64("Pauli z mask")?,
                        coeff: Complex64::new(
                            self.r.f64("Pauli coefficient")?,
                            self.r.f64("Pauli coefficient")?,
                        ),
                    };
                    let text = pauli_text(&term, &self.qubits).ok_or_else(|| {
                        invalid(
                            at,
                            "a Pauli term acts outside its save's qubits (or beyond qubit 63)"
                                .into(),
                        )
                    })?;
                    terms.push((text, term.coeff));
                }
                circuit.save_as("expectation_value", label, &self.qubits, &[], &terms, mode)
            }
        }
    }
}

fn save_mode_code(mode: SaveMode) -> u8 {
    match mode {
        SaveMode::Average => 0,
        SaveMode::PerShot => 1,
        SaveMode::Conditional => 2,
        SaveMode::ConditionalPerShot => 3,
        SaveMode::Single => 4,
    }
}

/// The Pauli label `save` parses back into `term` on `qubits` (rightmost
/// letter on `qubits[0]`), or `None` if the masks reach other qubits. Going
/// through the label keeps `save` the one place that checks terms.
fn pauli_text(term: &PauliTerm, qubits: &[i64]) -> Option<String> {
    // More qubits than mask bits can only be a list `save` refuses; this bound
    // also caps the length of every label built here.
    if qubits.len() > 64 {
        return None;
    }
    let mut covered = 0u64;
    let mut text = String::with_capacity(qubits.len());
    for &q in qubits.iter().rev() {
        let bit = u32::try_from(q).ok().and_then(|q| 1u64.checked_shl(q))?;
        covered |= bit;
        text.push(match (term.x & bit != 0, term.z & bit != 0) {
            (false, false) => 'I',
            (true, false) => 'X',
            (false, true) => 'Z',
            (true, true) => 'Y',
        });
    }
    ((term.x | term.z) & !covered == 0).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::MAX_WIDTH;
    use crate::circuit::matrix::Matrix;
    use crate::testing::uniform_stream;

    /// Every instruction kind once, with a name and a global phase.
    fn one_of_each() -> Circuit {
        let mut c = Circuit::new(4, 3);
        c.name = Some("every kind ✓".into());
        c.set_global_phase(1.25).unwrap();
        for &kind in GateKind::ALL {
            let n = kind.num_qubits().unwrap_or(4);
            let qubits: Vec<i64> = (0..n as i64).rev().collect();
            let params: Vec<f64> = (0..kind.num_params())
                .map(|i| 0.3 - 0.7 * i as f64)
                .collect();
            c.append_gate(kind.name(), &qubits, &params).unwrap();
        }
        let u = GateKind::Iswap.full_matrix(2, &[]);
        c.append_unitary(u.data().to_vec(), 4, 4, &[3, 1]).unwrap();
        c.measure(2, 1).unwrap();
        c.reset(0).unwrap();
        c.barrier(&[]).unwrap();
        c.barrier(&[2, 0]).unwrap();
        c.save("statevector", "sv", &[], &[], &[]).unwrap();
        c.save("probabilities", "p", &[1, 3], &[], &[]).unwrap();
        c.save("probabilities_dict", "", &[], &[], &[]).unwrap();
        c.save("amplitudes", "amps", &[], &[0, 15, 7], &[]).unwrap();
        let terms = [
            ("XYZI".to_string(), Complex64::new(0.5, -0.25)),
            ("IIII".to_string(), Complex64::new(-1.0, 0.0)),
        ];
        c.save("expectation_value", "ev", &[2, 0, 3, 1], &[], &terms)
            .unwrap();
        c.measure(3, 2).unwrap();
        c
    }

    /// A random valid circuit: gates of every kind, unitaries, measures,
    /// resets, barriers and saves on `n` qubits.
    fn random_circuit(n: usize, len: usize, seed: u64) -> Circuit {
        let mut next = uniform_stream(seed);
        let mut pick = move |m: usize| ((next() + 0.5) * m as f64) as usize % m;
        let mut c = Circuit::new(n, n + 1);
        if pick(2) == 0 {
            c.name = Some(format!("random {seed}"));
        }
        c.set_global_phase(pick(1000) as f64 * 0.01).unwrap();
        let distinct = |pick: &mut dyn FnMut(usize) -> usize, k: usize| {
            let mut qs: Vec<i64> = Vec::new();
            while qs.len() < k {
                let q = pick(n) as i64;
                if !qs.contains(&q) {
                    qs.push(q);
                }
            }
            qs
        };
        for i in 0..len {
            match pick(12) {
                0 => c.measure(pick(n) as i64, pick(n + 1) as i64).unwrap(),
                1 => c.reset(pick(n) as i64).unwrap(),
                2 => {
                    let k = pick(n + 1);
                    c.barrier(&distinct(&mut pick, k)).unwrap()
                }
                3 => {
                    let k = 1 + pick(2.min(n));
                    let kind = [GateKind::U, GateKind::Cu][k - 1];
                    let params: Vec<f64> = (0..kind.num_params())
                        .map(|_| pick(1000) as f64 * 0.01)
                        .collect();
                    let m = kind.full_matrix(k, &params);
                    let d = m.dim();
                    c.append_unitary(m.data().to_vec(), d, d, &distinct(&mut pick, k))
                        .unwrap()
                }
                4 => {
                    let k = 1 + pick(n);
                    let qs = distinct(&mut pick, k);
                    let label = format!("s{i}");
                    match pick(5) {
                        0 => c.save("statevector", &label, &[], &[], &[]),
                        1 => c.save("probabilities", &label, &qs, &[], &[]),
                        2 => c.save("probabilities_dict", &label, &qs, &[], &[]),
                        3 => {
                            let idx: Vec<u64> = (0..pick(4)).map(|_| pick(1 << n) as u64).collect();
                            c.save("amplitudes", &label, &[], &idx, &[])
                        }
                        _ => {
                            let terms: Vec<(String, Complex64)> = (0..1 + pick(3))
                                .map(|_| {
                                    let text = (0..k).map(|_| ['I', 'X', 'Y', 'Z'][pick(4)]);
                                    (text.collect(), Complex64::new(pick(9) as f64 - 4.0, 0.5))
                                })
                                .collect();
                            c.save("expectation_value", &label, &qs, &[], &terms)
                        }
                    }
                    .unwrap()
                }
                _ => {
                    let kind = GateKind::ALL[pick(GateKind::ALL.len())];
                    let k = kind.num_qubits().unwrap_or(1 + pick(n));
                    if k > n {
                        continue;
                    }
                    let params: Vec<f64> = (0..kind.num_params())
                        .map(|_| (pick(20_000) as f64 - 10_000.0) * 1e-3)
                        .collect();
                    c.append_gate(kind.name(), &distinct(&mut pick, k), &params)
                        .unwrap()
                }
            }
        }
        c
    }

    fn decode_err(data: &[u8]) -> (usize, String) {
        match Circuit::from_bytes(data) {
            Err(Error::InvalidEncoding { offset, reason }) => (offset, reason),
            other => panic!("expected an encoding error, got {other:?}"),
        }
    }

    #[test]
    fn every_instruction_kind_round_trips() {
        let c = one_of_each();
        let kinds: std::collections::HashSet<&str> =
            c.instructions().iter().map(|i| i.name()).collect();
        assert_eq!(kinds.len(), GateKind::ALL.len() + 9);
        let bytes = c.to_bytes();
        let back = Circuit::from_bytes(&bytes).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn random_circuits_round_trip() {
        for seed in 0..200 {
            let n = 1 + (seed as usize % 6);
            let c = random_circuit(n, 60, seed);
            let back = Circuit::from_bytes(&c.to_bytes()).unwrap();
            assert_eq!(back, c, "seed {seed}");
            assert_eq!(back.name, c.name);
            assert_eq!(back.global_phase().to_bits(), c.global_phase().to_bits());
        }
    }

    #[test]
    fn edge_circuits_round_trip() {
        let mut cases = vec![Circuit::new(0, 0), Circuit::new(1, 0)];
        let mut named = Circuit::new(0, 0);
        named.name = Some(String::new());
        cases.push(named);
        // A phase that rem_euclid rounded up to 2 pi.
        let mut tau = Circuit::new(2, 0);
        tau.set_global_phase(-1e-20).unwrap();
        assert_eq!(tau.global_phase(), std::f64::consts::TAU);
        cases.push(tau);
        // Indices that need 2, 4 and 8 bytes.
        for (nq, nc) in [(300, 2), (3, 70_000), (2, MAX_WIDTH)] {
            let mut c = Circuit::new(nq, nc);
            c.measure(nq as i64 - 1, nc as i64 - 1).unwrap();
            c.append_gate("cx", &[nq as i64 - 1, 0], &[]).unwrap();
            cases.push(c);
        }
        // Inverses carry adjoint matrices and renamed gates.
        let mut inv = random_circuit(4, 40, 7);
        inv.instructions.retain(|i| {
            !matches!(
                i,
                Instruction::Save { .. } | Instruction::Measure { .. } | Instruction::Reset { .. }
            )
        });
        cases.push(inv.inverse().unwrap());
        // A set state, bit for bit.
        let mut set = Circuit::new(2, 1);
        let third = (1.0f64 / 3.0).sqrt();
        set.set_statevector(vec![
            Complex64::new(third, 0.0),
            Complex64::new(0.0, -third),
            Complex64::new(0.0, 0.0),
            Complex64::new(-third * 0.6, third * 0.8),
        ])
        .unwrap();
        set.measure(1, 0).unwrap();
        set.append_store(&[0], Expr::Unary(UnaryOp::Not, Box::new(Expr::Bit(0))))
            .unwrap();
        cases.push(set);
        for c in cases {
            assert_eq!(Circuit::from_bytes(&c.to_bytes()).unwrap(), c);
        }
    }

    #[test]
    fn indices_are_as_narrow_as_the_circuit_allows() {
        let mut c = Circuit::new(10, 10);
        c.append_gate("rx", &[3], &[0.5]).unwrap();
        c.append_gate("cx", &[3, 4], &[]).unwrap();
        c.measure(9, 9).unwrap();
        // Header, count, then 1 + 1 + 8, 1 + 2 and 1 + 2 bytes.
        assert_eq!(c.to_bytes().len(), HEADER_BYTES + 8 + 10 + 3 + 3);
    }

    #[test]
    fn every_truncation_is_refused() {
        for c in [one_of_each(), random_circuit(3, 30, 99)] {
            let bytes = c.to_bytes();
            for end in 0..bytes.len() {
                let (offset, reason) = decode_err(&bytes[..end]);
                assert!(
                    offset <= end,
                    "offset {offset} past the end {end}: {reason}"
                );
                if end >= MAGIC.len() {
                    assert!(
                        reason.contains("truncated") || reason.contains("left"),
                        "{reason}"
                    );
                }
            }
            let mut longer = bytes.clone();
            longer.push(0);
            let (offset, reason) = decode_err(&longer);
            assert_eq!(offset, bytes.len());
            assert!(reason.contains("trailing"), "{reason}");
        }
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let bytes = one_of_each().to_bytes();
        let mut accepted = 0;
        for i in 0..bytes.len() {
            for pattern in [0xff, 0x01, 0x80, 0x7f] {
                let mut bad = bytes.clone();
                bad[i] ^= pattern;
                match Circuit::from_bytes(&bad) {
                    // A flipped parameter bit is still a valid circuit, which
                    // must round trip like any other.
                    Ok(c) => {
                        accepted += 1;
                        let again = Circuit::from_bytes(&c.to_bytes());
                        assert_eq!(again.as_ref(), Ok(&c), "byte {i} ^ {pattern:#x}");
                    }
                    Err(Error::InvalidEncoding { offset, .. }) => assert!(offset <= bad.len()),
                    Err(other) => panic!("byte {i}: not an encoding error: {other:?}"),
                }
            }
        }
        assert!(accepted > 0);
        // Runs of random bytes after a valid header.
        let mut next = uniform_stream(5);
        for _ in 0..2000 {
            let mut bad = bytes.clone();
            let at = HEADER_BYTES + ((next() + 0.5) * (bytes.len() - HEADER_BYTES) as f64) as usize;
            for b in bad.iter_mut().skip(at).take(12) {
                *b = ((next() + 0.5) * 256.0) as u8;
            }
            let _ = Circuit::from_bytes(&bad);
        }
    }

    fn header(flags: u8, width: u8, num_qubits: u64, num_clbits: u64) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&[flags, width]);
        out.extend_from_slice(&num_qubits.to_le_bytes());
        out.extend_from_slice(&num_clbits.to_le_bytes());
        out.extend_from_slice(&0.0f64.to_le_bytes());
        out
    }

    #[test]
    fn huge_lengths_are_refused_before_allocating() {
        let with = |prefix: Vec<u8>, rest: &[&[u8]]| {
            let mut out = prefix;
            for part in rest {
                out.extend_from_slice(part);
            }
            out
        };
        let max = u64::MAX.to_le_bytes();
        let one = 1u64.to_le_bytes();
        let cases = [
            // Name, instruction count, mcx qubits, barrier, unitary width,
            // label, amplitudes and Pauli terms as long as u64 allows.
            with(header(FLAG_NAME, 1, 4, 0), &[&max]),
            with(header(0, 1, 4, 0), &[&max]),
            with(header(0, 1, 4, 0), &[&(1u64 << 62).to_le_bytes()]),
            with(
                header(0, 1, 4, 0),
                &[&one, &[gate_code(GateKind::Mcx)], &max],
            ),
            with(
                header(0, 8, 4, 0),
                &[&one, &[Tag::BARRIER], &(u64::MAX / 4).to_le_bytes()],
            ),
            with(
                header(0, 1, 4, 0),
                &[&one, &[Tag::UNITARY], &4u64.to_le_bytes(), &[0, 1, 2, 3]],
            ),
            with(
                header(0, 1, 40, 0),
                &[&one, &[Tag::UNITARY], &40u64.to_le_bytes(), &[0; 40]],
            ),
            with(header(0, 1, 4, 0), &[&one, &[Tag::SAVE_STATEVECTOR], &max]),
            with(
                header(0, 1, 4, 0),
                &[
                    &one,
                    &[Tag::SAVE_AMPLITUDES],
                    &0u64.to_le_bytes(),
                    &0u64.to_le_bytes(),
                    &max,
                ],
            ),
            with(
                header(0, 1, 4, 0),
                &[
                    &one,
                    &[Tag::SAVE_EXPECTATION_VALUE],
                    &0u64.to_le_bytes(),
                    &0u64.to_le_bytes(),
                    &(u64::MAX / 16).to_le_bytes(),
                ],
            ),
        ];
        for case in cases {
            let (offset, reason) = decode_err(&case);
            assert!(offset <= case.len());
            assert!(reason.contains("left"), "{reason}");
        }
    }

    #[test]
    fn bad_headers_and_tags_are_named() {
        let good = one_of_each().to_bytes();
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(decode_err(&bad).1.contains("magic"));
        let mut bad = good.clone();
        bad[4] = FORMAT_VERSION as u8 + 1;
        let (offset, reason) = decode_err(&bad);
        assert_eq!(offset, 4);
        assert!(
            reason.contains(&format!("version {}", FORMAT_VERSION + 1)),
            "{reason}"
        );
        // Versions 1 (before control flow) and 2 (before set_statevector) still read.
        for version in 1..FORMAT_VERSION {
            let mut old = good.clone();
            old[4] = version as u8;
            assert_eq!(Circuit::from_bytes(&old).unwrap(), one_of_each());
        }
        let mut bad = good.clone();
        bad[6] |= 0x80;
        assert!(decode_err(&bad).1.contains("flags"));
        let mut bad = good.clone();
        bad[7] = 3;
        assert!(decode_err(&bad).1.contains("width"));
        let mut phase = header(0, 1, 1, 0);
        phase[24..32].copy_from_slice(&f64::NAN.to_le_bytes());
        phase.extend_from_slice(&0u64.to_le_bytes());
        assert!(decode_err(&phase).1.contains("global phase"));
        phase[24..32].copy_from_slice(&7.0f64.to_le_bytes());
        assert!(decode_err(&phase).1.contains("global phase"));
        let mut tag = header(0, 1, 1, 0);
        tag.extend_from_slice(&1u64.to_le_bytes());
        tag.extend_from_slice(&[0x7e, 0]);
        let (offset, reason) = decode_err(&tag);
        assert_eq!(offset, HEADER_BYTES + 8);
        assert!(reason.contains("unknown instruction tag 0x7e"), "{reason}");
        // An empty barrier would mean "all qubits".
        let mut barrier = header(0, 1, 1 << 10, 0);
        barrier.extend_from_slice(&1u64.to_le_bytes());
        barrier.push(Tag::BARRIER);
        barrier.extend_from_slice(&0u64.to_le_bytes());
        assert!(decode_err(&barrier).1.contains("no qubits"));
        // Widths past what a circuit may declare are refused at the header.
        for (nq, nc) in [(1u64 << 40, 0u64), (0, MAX_WIDTH as u64 + 1)] {
            let (offset, reason) = decode_err(&header(0, 1, nq, nc));
            assert!(reason.contains("more than"), "{reason}");
            assert!(offset < HEADER_BYTES, "{offset}");
        }
    }

    /// One instruction after a 3-qubit, 1-clbit header.
    fn single(inst: &[u8]) -> Vec<u8> {
        let mut out = header(0, 1, 3, 1);
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(inst);
        out
    }

    #[test]
    fn decoded_instructions_are_validated_like_built_ones() {
        let f = |v: f64| v.to_le_bytes();
        let u = |v: u64| v.to_le_bytes();
        let cx = gate_code(GateKind::Cx);
        let rx = gate_code(GateKind::Rx);
        let not_unitary: Vec<u8> = [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
            .iter()
            .flat_map(|v: &f64| v.to_le_bytes())
            .collect();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (single(&[cx, 1, 1]), "used more than once"),
            (single(&[cx, 0, 3]), "out of range"),
            (
                single(&[&[rx, 0][..], &f(f64::INFINITY)].concat()),
                "must be finite",
            ),
            (single(&[Tag::MEASURE, 0, 1]), "clbit 1 is out of range"),
            (single(&[Tag::RESET, 5]), "out of range"),
            (
                single(&[&[Tag::UNITARY][..], &u(1), &[0], &not_unitary].concat()),
                "not unitary",
            ),
            (
                single(
                    &[
                        &[Tag::UNITARY][..],
                        &u(1),
                        &[0],
                        &f(f64::NAN),
                        &not_unitary[8..],
                    ]
                    .concat(),
                ),
                "non-finite",
            ),
            (
                single(&[&[Tag::UNITARY][..], &u(0), &f(1.0), &f(0.0)].concat()),
                "at least 1",
            ),
            (
                single(&[&[gate_code(GateKind::Mcx)][..], &u(0)].concat()),
                "at least 1",
            ),
            (
                single(
                    &[
                        &[Tag::SAVE_AMPLITUDES][..],
                        &u(1),
                        b"a",
                        &u(0),
                        &u(1),
                        &u(8),
                    ]
                    .concat(),
                ),
                "basis state 8 is out of range",
            ),
            (
                single(
                    &[
                        &[Tag::SAVE_EXPECTATION_VALUE][..],
                        &u(0),
                        &u(1),
                        &[1],
                        &u(1),
                        &u(0b100),
                        &u(0),
                        &f(1.0),
                        &f(0.0),
                    ]
                    .concat(),
                ),
                "outside its save's qubits",
            ),
            (
                single(
                    &[
                        &[Tag::SAVE_EXPECTATION_VALUE][..],
                        &u(0),
                        &u(1),
                        &[1],
                        &u(1),
                        &u(0b10),
                        &u(0),
                        &f(f64::NAN),
                        &f(0.0),
                    ]
                    .concat(),
                ),
                "not finite",
            ),
            (
                single(&[&[Tag::SAVE_PROBABILITIES][..], &u(2), &[0xff, 0xfe], &u(0)].concat()),
                "not UTF-8",
            ),
        ];
        for (bytes, expected) in cases {
            let (offset, reason) = decode_err(&bytes);
            assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
            assert!(offset >= HEADER_BYTES + 8, "{offset}");
        }
        // Two saves with one label: refused like a second `save` call.
        let mut c = Circuit::new(2, 0);
        c.save("statevector", "x", &[], &[], &[]).unwrap();
        c.save("probabilities", "y", &[], &[], &[]).unwrap();
        let mut bytes = c.to_bytes();
        let at = bytes
            .windows(9)
            .rposition(|w| w == [1, 0, 0, 0, 0, 0, 0, 0, b'y'])
            .unwrap();
        bytes[at + 8] = b'x';
        assert!(decode_err(&bytes).1.contains("already used"));
        // Saves in circuits of over 63 qubits.
        let mut bytes = c.to_bytes();
        bytes[8..16].copy_from_slice(&u(64));
        assert!(decode_err(&bytes).1.contains("over 63 qubits"));
    }

    #[test]
    fn compose_keeps_saves_valid() {
        let mut a = Circuit::new(2, 0);
        a.save("statevector", "x", &[], &[], &[]).unwrap();
        let mut twice = a.clone();
        assert!(matches!(twice.compose(&a), Err(Error::InvalidCircuit(m)) if m.contains("'x'")));
        assert_eq!(twice, a);
        let mut wide = Circuit::new(64, 0);
        assert!(wide.compose(&a).is_err());
        let mut b = Circuit::new(3, 0);
        b.compose(&a).unwrap();
        assert_eq!(Circuit::from_bytes(&b.to_bytes()).unwrap(), b);
    }

    #[test]
    fn unitary_matrices_are_kept_bit_for_bit() {
        let m = Matrix::from_rows(
            2,
            vec![
                Complex64::new(0.6, 0.0),
                Complex64::new(0.0, 0.8),
                Complex64::new(0.0, 0.8),
                Complex64::new(0.6, -0.0),
            ],
        );
        let mut c = Circuit::new(1, 0);
        c.append_unitary(m.data().to_vec(), 2, 2, &[0]).unwrap();
        let back = Circuit::from_bytes(&c.to_bytes()).unwrap();
        let Instruction::Unitary { matrix, .. } = &back.instructions()[0] else {
            unreachable!()
        };
        let bits = |m: &Matrix| -> Vec<u64> {
            m.data()
                .iter()
                .flat_map(|z| [z.re.to_bits(), z.im.to_bits()])
                .collect()
        };
        assert_eq!(bits(matrix), bits(&m));
    }
}
