//! Classical control flow: conditions over clbits ([`Expr`]) and the blocks
//! that run on them (`if`/`else`, `while`, `switch`, `break`, `continue`), as
//! Qiskit's dynamic circuits and OpenQASM's `if` have them. The engine runs a
//! circuit with control flow shot by shot, each shot deciding from its own
//! measured bits.

use super::{Circuit, Instruction};
use crate::error::{Error, Result};

/// Deepest nesting of control-flow blocks: deeper input (a decoded or
/// generated circuit) is refused rather than risk the stack.
pub const MAX_NESTING: usize = 64;

/// A classical expression over the circuit's clbits, evaluated per shot to an
/// unsigned integer (booleans are 0 and 1).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// One clbit.
    Bit(usize),
    /// Clbits read as an unsigned integer, `bits[0]` the least significant
    /// (at most 64).
    Register(Vec<usize>),
    Value(u64),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// Logical not: 1 for 0, else 0.
    Not,
    /// Bitwise not within `width` bits.
    BitNot(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// Logical and / or (of "non-zero").
    And,
    Or,
    BitAnd,
    BitOr,
    BitXor,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 11] = [
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::BitAnd,
        BinaryOp::BitOr,
        BinaryOp::BitXor,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::BitAnd => "bitand",
            BinaryOp::BitOr => "bitor",
            BinaryOp::BitXor => "bitxor",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
        }
    }

    pub fn parse(name: &str) -> Option<BinaryOp> {
        BinaryOp::ALL.into_iter().find(|op| op.name() == name)
    }
}

fn bit(record: &[u64], c: usize) -> u64 {
    (record[c / 64] >> (c % 64)) & 1
}

impl Expr {
    /// The value under the classical record `record` (clbit `c` is bit
    /// `c % 64` of word `c / 64`).
    pub fn eval(&self, record: &[u64]) -> u64 {
        match self {
            Expr::Bit(c) => bit(record, *c),
            Expr::Register(bits) => bits
                .iter()
                .enumerate()
                .fold(0, |acc, (i, &c)| acc | (bit(record, c) << i)),
            Expr::Value(v) => *v,
            Expr::Unary(UnaryOp::Not, e) => (e.eval(record) == 0) as u64,
            Expr::Unary(UnaryOp::BitNot(width), e) => {
                let mask = if *width >= 64 {
                    u64::MAX
                } else {
                    (1u64 << width) - 1
                };
                !e.eval(record) & mask
            }
            Expr::Binary(op, a, b) => {
                let (x, y) = (a.eval(record), b.eval(record));
                match op {
                    BinaryOp::And => (x != 0 && y != 0) as u64,
                    BinaryOp::Or => (x != 0 || y != 0) as u64,
                    BinaryOp::BitAnd => x & y,
                    BinaryOp::BitOr => x | y,
                    BinaryOp::BitXor => x ^ y,
                    BinaryOp::Eq => (x == y) as u64,
                    BinaryOp::Ne => (x != y) as u64,
                    BinaryOp::Lt => (x < y) as u64,
                    BinaryOp::Le => (x <= y) as u64,
                    BinaryOp::Gt => (x > y) as u64,
                    BinaryOp::Ge => (x >= y) as u64,
                }
            }
        }
    }

    /// Refuses clbits out of range, registers wider than 64 bits and nesting
    /// deeper than [`MAX_NESTING`].
    pub fn check(&self, num_clbits: usize, what: &str) -> Result<()> {
        self.check_at(num_clbits, what, 0)
    }

    fn check_at(&self, num_clbits: usize, what: &str, depth: usize) -> Result<()> {
        if depth > MAX_NESTING {
            return Err(Error::InvalidCircuit(format!(
                "{what}: the condition nests deeper than {MAX_NESTING} levels"
            )));
        }
        let in_range = |c: usize| {
            if c < num_clbits {
                Ok(())
            } else {
                Err(Error::ClbitOutOfRange {
                    gate: what.to_string(),
                    clbit: c as i64,
                    num_clbits,
                })
            }
        };
        match self {
            Expr::Bit(c) => in_range(*c),
            Expr::Register(bits) => {
                if bits.len() > 64 {
                    return Err(Error::InvalidCircuit(format!(
                        "{what}: a register of {} clbits in a condition; at most 64",
                        bits.len()
                    )));
                }
                bits.iter().try_for_each(|&c| in_range(c))
            }
            Expr::Value(_) => Ok(()),
            Expr::Unary(_, e) => e.check_at(num_clbits, what, depth + 1),
            Expr::Binary(_, a, b) => {
                a.check_at(num_clbits, what, depth + 1)?;
                b.check_at(num_clbits, what, depth + 1)
            }
        }
    }
}

/// The qubits the instructions of `bodies` act on, ascending, without repeats.
fn union_of_qubits<'a>(bodies: impl Iterator<Item = &'a [Instruction]>) -> Vec<usize> {
    let mut all: Vec<usize> = bodies
        .flat_map(|b| b.iter().flat_map(|i| i.qubits().iter().copied()))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// How deep the control flow of `body` nests.
fn nesting(body: &[Instruction]) -> usize {
    body.iter()
        .map(|inst| match inst {
            Instruction::IfElse {
                then_body,
                else_body,
                ..
            } => 1 + nesting(then_body).max(nesting(else_body)),
            Instruction::WhileLoop { body, .. } => 1 + nesting(body),
            Instruction::SwitchCase { cases, default, .. } => {
                1 + cases
                    .iter()
                    .map(|(_, b)| nesting(b))
                    .chain(default.iter().map(|b| nesting(b)))
                    .max()
                    .unwrap_or(0)
            }
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

impl Circuit {
    /// The instructions of `body`, a circuit of the same width that a block of
    /// this one runs; refused when it is wider, saves anything or nests too deep.
    fn block(&self, body: &Circuit, what: &str) -> Result<Vec<Instruction>> {
        if body.num_qubits != self.num_qubits || body.num_clbits != self.num_clbits {
            return Err(Error::InvalidCircuit(format!(
                "{what}: a block must have the circuit's {} qubits and {} clbits, not {} and {}",
                self.num_qubits, self.num_clbits, body.num_qubits, body.num_clbits
            )));
        }
        if let Some(save) = body
            .instructions
            .iter()
            .find(|i| matches!(i, Instruction::Save { .. }))
        {
            return Err(Error::InvalidCircuit(format!(
                "{what}: '{}' inside a control-flow block is not supported",
                save.name()
            )));
        }
        if body.global_phase != 0.0 {
            return Err(Error::InvalidCircuit(format!(
                "{what}: a block with a global phase is not supported"
            )));
        }
        if nesting(&body.instructions) >= MAX_NESTING {
            return Err(Error::InvalidCircuit(format!(
                "{what}: control flow nests deeper than {MAX_NESTING} levels"
            )));
        }
        Ok(body.instructions.clone())
    }

    /// Appends `if (condition) { then_body } else { else_body }`.
    pub fn append_if_else(
        &mut self,
        condition: Expr,
        then_body: &Circuit,
        else_body: Option<&Circuit>,
    ) -> Result<()> {
        condition.check(self.num_clbits, "if_else")?;
        let then_body = self.block(then_body, "if_else")?;
        let else_body = match else_body {
            Some(b) => self.block(b, "if_else")?,
            None => Vec::new(),
        };
        let qubits = union_of_qubits([&then_body[..], &else_body[..]].into_iter());
        self.instructions.push(Instruction::IfElse {
            condition,
            then_body,
            else_body,
            qubits,
        });
        Ok(())
    }

    /// Gives the `if` just appended an `else` block (Qiskit's `with else_:`).
    pub fn attach_else(&mut self, else_body: &Circuit) -> Result<()> {
        let block = self.block(else_body, "else")?;
        match self.instructions.last_mut() {
            Some(Instruction::IfElse {
                then_body,
                else_body,
                qubits,
                ..
            }) if else_body.is_empty() => {
                *qubits = union_of_qubits([&then_body[..], &block[..]].into_iter());
                *else_body = block;
                Ok(())
            }
            _ => Err(Error::InvalidCircuit(
                "else: the last instruction is not an 'if' without an else block".into(),
            )),
        }
    }

    /// Appends `while (condition) { body }`.
    pub fn append_while(&mut self, condition: Expr, body: &Circuit) -> Result<()> {
        condition.check(self.num_clbits, "while_loop")?;
        let body = self.block(body, "while_loop")?;
        let qubits = union_of_qubits(std::iter::once(&body[..]));
        self.instructions.push(Instruction::WhileLoop {
            condition,
            body,
            qubits,
        });
        Ok(())
    }

    /// Appends `switch (target) { case values: body ... default: body }`; the
    /// first case listing the target's value runs, else `default` (if any).
    pub fn append_switch(
        &mut self,
        target: Expr,
        cases: &[(Vec<u64>, &Circuit)],
        default: Option<&Circuit>,
    ) -> Result<()> {
        target.check(self.num_clbits, "switch_case")?;
        let cases = cases
            .iter()
            .map(|(values, body)| Ok((values.clone(), self.block(body, "switch_case")?)))
            .collect::<Result<Vec<_>>>()?;
        let default = default.map(|b| self.block(b, "switch_case")).transpose()?;
        let qubits = union_of_qubits(
            cases
                .iter()
                .map(|(_, b)| &b[..])
                .chain(default.iter().map(|b| &b[..])),
        );
        self.instructions.push(Instruction::SwitchCase {
            target,
            cases,
            default,
            qubits,
        });
        Ok(())
    }

    /// Appends `break`: leaves the innermost enclosing `while` loop.
    pub fn append_break(&mut self) {
        self.instructions.push(Instruction::BreakLoop);
    }

    /// Appends `continue`: starts the next iteration of the innermost loop.
    pub fn append_continue(&mut self) {
        self.instructions.push(Instruction::ContinueLoop);
    }

    /// Appends `store`: `value` written into the clbits `targets` (least
    /// significant first; one clbit takes whether `value` is non-zero).
    pub fn append_store(&mut self, targets: &[i64], value: Expr) -> Result<()> {
        value.check(self.num_clbits, "store")?;
        if targets.is_empty() || targets.len() > 64 {
            return Err(Error::InvalidCircuit(format!(
                "store: the target must be 1 to 64 clbits, not {}",
                targets.len()
            )));
        }
        let mut clbits = Vec::with_capacity(targets.len());
        for &c in targets {
            if c < 0 || c as u64 >= self.num_clbits as u64 {
                return Err(Error::ClbitOutOfRange {
                    gate: "store".into(),
                    clbit: c,
                    num_clbits: self.num_clbits,
                });
            }
            if clbits.contains(&(c as usize)) {
                return Err(Error::InvalidCircuit(format!(
                    "store: clbit {c} is a target more than once"
                )));
            }
            clbits.push(c as usize);
        }
        self.instructions.push(Instruction::Store {
            targets: clbits,
            value,
        });
        Ok(())
    }

    /// Whether any instruction is control flow.
    pub fn has_control_flow(&self) -> bool {
        self.instructions.iter().any(Instruction::is_control_flow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_evaluate_as_qiskit_defines_them() {
        // clbits 0..3 = 1, 0, 1, 1 (register value 0b1101 = 13).
        let record = [0b1101u64];
        let reg = || Box::new(Expr::Register(vec![0, 1, 2, 3]));
        let v = |x| Box::new(Expr::Value(x));
        assert_eq!(Expr::Bit(2).eval(&record), 1);
        assert_eq!(Expr::Register(vec![0, 1, 2, 3]).eval(&record), 13);
        assert_eq!(Expr::Register(vec![3, 1]).eval(&record), 1);
        assert_eq!(Expr::Binary(BinaryOp::Eq, reg(), v(13)).eval(&record), 1);
        assert_eq!(Expr::Binary(BinaryOp::Lt, reg(), v(13)).eval(&record), 0);
        assert_eq!(Expr::Binary(BinaryOp::BitAnd, reg(), v(6)).eval(&record), 4);
        assert_eq!(Expr::Unary(UnaryOp::BitNot(4), reg()).eval(&record), 2);
        assert_eq!(Expr::Unary(UnaryOp::Not, v(0)).eval(&record), 1);
        assert_eq!(
            Expr::Binary(BinaryOp::Or, Box::new(Expr::Bit(1)), v(0)).eval(&record),
            0
        );
    }

    use crate::sim::engine::run;
    use crate::sim::options::RunOptions;
    use crate::sim::result::format_bits;

    fn counts(c: &Circuit, shots: u64) -> std::collections::BTreeMap<String, u64> {
        let opts = RunOptions {
            shots,
            seed: Some(11),
            ..RunOptions::default()
        };
        let r = run(std::slice::from_ref(c), &opts).unwrap();
        let e = &r.experiments[0];
        (0..e.num_distinct())
            .map(|i| {
                (
                    format_bits(&e.count_keys[i * e.words..(i + 1) * e.words], e.num_clbits),
                    e.count_values[i],
                )
            })
            .collect()
    }

    fn gate(c: &mut Circuit, name: &str, qubits: &[i64]) {
        c.append_gate(name, qubits, &[]).unwrap();
    }

    #[test]
    fn feed_forward_corrects_a_measured_qubit() {
        // Measure |+>, flip it back to |0> when it read 1: every shot reads 0
        // at the second measurement; the first is 50/50.
        let mut c = Circuit::new(1, 2);
        gate(&mut c, "h", &[0]);
        c.measure(0, 0).unwrap();
        let mut flip = Circuit::new(1, 2);
        gate(&mut flip, "x", &[0]);
        c.append_if_else(Expr::Bit(0), &flip, None).unwrap();
        c.measure(0, 1).unwrap();
        let got = counts(&c, 2000);
        assert_eq!(got.keys().collect::<Vec<_>>(), ["00", "01"]);
        assert!(got.values().all(|&n| (850..1150).contains(&n)), "{got:?}");
    }

    #[test]
    fn a_while_loop_repeats_until_success_and_break_leaves_it() {
        // Repeat until the coin reads 1: always ends with clbit 0 = 1.
        let mut c = Circuit::new(1, 1);
        let mut body = Circuit::new(1, 1);
        body.reset(0).unwrap();
        gate(&mut body, "h", &[0]);
        body.measure(0, 0).unwrap();
        c.append_while(Expr::Unary(UnaryOp::Not, Box::new(Expr::Bit(0))), &body)
            .unwrap();
        assert_eq!(counts(&c, 500), [("1".to_string(), 500)].into());
        // `while true { break }` ends at once; a nested if's break leaves the loop.
        let mut c = Circuit::new(1, 1);
        let mut body = Circuit::new(1, 1);
        gate(&mut body, "x", &[0]);
        let mut stop = Circuit::new(1, 1);
        stop.append_break();
        body.append_if_else(Expr::Value(1), &stop, None).unwrap();
        gate(&mut body, "x", &[0]);
        c.append_while(Expr::Value(1), &body).unwrap();
        c.measure(0, 0).unwrap();
        assert_eq!(counts(&c, 10), [("1".to_string(), 10)].into());
    }

    #[test]
    fn a_switch_runs_the_case_of_the_registers_value() {
        // Two coins into c0, c1; the switch writes (value + 1) % 4 into q2, q3
        // through X gates, measured into c2, c3.
        let mut c = Circuit::new(4, 4);
        gate(&mut c, "h", &[0]);
        gate(&mut c, "h", &[1]);
        c.measure(0, 0).unwrap();
        c.measure(1, 1).unwrap();
        let body = |bits: &[i64]| {
            let mut b = Circuit::new(4, 4);
            for &q in bits {
                gate(&mut b, "x", &[q]);
            }
            b
        };
        let (one, two, three) = (body(&[2]), body(&[3]), body(&[2, 3]));
        let zero = body(&[]);
        c.append_switch(
            Expr::Register(vec![0, 1]),
            &[(vec![0], &one), (vec![1], &two), (vec![2], &three)],
            Some(&zero),
        )
        .unwrap();
        c.measure(2, 2).unwrap();
        c.measure(3, 3).unwrap();
        for (bits, _) in counts(&c, 400) {
            let v = u64::from_str_radix(&bits, 2).unwrap();
            assert_eq!((v >> 2), ((v & 3) + 1) % 4, "{bits}");
        }
    }

    #[test]
    fn control_flow_round_trips_through_the_binary_form_and_truncation() {
        let mut c = Circuit::new(40, 3);
        gate(&mut c, "h", &[7]);
        c.measure(7, 0).unwrap();
        let mut then = Circuit::new(40, 3);
        gate(&mut then, "x", &[30]);
        let mut other = Circuit::new(40, 3);
        other.append_continue();
        let mut body = Circuit::new(40, 3);
        body.append_switch(
            Expr::Register(vec![0, 2]),
            &[(vec![3], &other)],
            Some(&then),
        )
        .unwrap();
        body.append_break();
        let cond = Expr::Binary(
            BinaryOp::Ne,
            Box::new(Expr::Unary(
                UnaryOp::BitNot(2),
                Box::new(Expr::Register(vec![0, 1])),
            )),
            Box::new(Expr::Value(7)),
        );
        c.append_while(cond, &body).unwrap();
        c.measure(30, 1).unwrap();
        let bytes = c.to_bytes();
        assert_eq!(Circuit::from_bytes(&bytes).unwrap(), c);
        let (small, active) = c.truncated().unwrap();
        assert_eq!(active, vec![7, 30]);
        assert_eq!(Circuit::from_bytes(&small.to_bytes()).unwrap(), small);
        // c0 is a coin; the loop's default case flips qubit 30 once: c1 = 1.
        let got = counts(&small, 300);
        assert_eq!(got.keys().collect::<Vec<_>>(), ["010", "011"], "{got:?}");
    }

    #[test]
    fn break_outside_a_loop_fails_the_circuit_when_it_runs() {
        let mut c = Circuit::new(1, 1);
        c.append_break();
        let r = run(&[c], &RunOptions::default());
        assert!(
            r.unwrap_err()
                .to_string()
                .contains("'break_loop' outside a loop")
        );
    }

    #[test]
    fn blocks_must_match_the_circuit_and_conditions_its_clbits() {
        let mut c = Circuit::new(2, 2);
        let mut body = Circuit::new(2, 2);
        body.append_gate("x", &[1], &[]).unwrap();
        assert!(c.append_if_else(Expr::Bit(5), &body, None).is_err());
        assert!(
            c.append_if_else(Expr::Bit(0), &Circuit::new(3, 2), None)
                .is_err()
        );
        c.append_if_else(Expr::Bit(0), &body, None).unwrap();
        assert_eq!(c.instructions().last().unwrap().qubits(), &[1]);
        let mut other = Circuit::new(2, 2);
        other.append_gate("h", &[0], &[]).unwrap();
        c.attach_else(&other).unwrap();
        assert_eq!(c.instructions().last().unwrap().qubits(), &[0, 1]);
        assert!(c.attach_else(&other).is_err(), "one else per if");
        let mut deep = Circuit::new(1, 1);
        for _ in 0..MAX_NESTING + 1 {
            let mut outer = Circuit::new(1, 1);
            if outer.append_if_else(Expr::Bit(0), &deep, None).is_err() {
                return;
            }
            deep = outer;
        }
        panic!("nesting was never refused");
    }
}
