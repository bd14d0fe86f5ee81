//! An OpenQASM 2.0 parser that builds a [`Circuit`] without Qiskit.
//!
//! Crates evaluated first: `openqasm` (a LALRPOP parser with its own type
//! checker and an `ariadne` error renderer; pulls in a parser generator and a
//! diagnostics stack, reports errors as rendered text rather than one line and
//! column, and has not had a release for years) and the `oq3_*` family
//! (`oq3_parser`, `oq3_syntax`, `oq3_semantics`, Qiskit's OpenQASM 3 front end
//! built on `rowan`): the latter targets OpenQASM 3, whose semantics differ
//! from 2.0 (no `qelib1.inc`, `U`/`CX` builtins, `opaque`, register
//! broadcast), and is a heavy dependency. Neither gives exact error positions
//! plus Qiskit-compatible expansion cheaply, so this module is a hand-written
//! lexer and recursive-descent parser with no dependency.
//!
//! Accepted language: what `qiskit.qasm2.loads` accepts with its default
//! (non-strict) settings, namely an optional `OPENQASM 2.0;` header, trailing
//! commas and empty statements, `qreg`/`creg` (flattened in declaration order),
//! `gate` definitions (expanded by substitution), `opaque` declarations (an
//! error when used), `measure`, `reset`, `barrier`, register broadcast,
//! comments, and parameter expressions (`+ - * / ^`, unary minus, `pi`, `sin
//! cos tan exp ln sqrt`, plus the legacy `asin acos atan`). `include
//! "qelib1.inc";` is built in and defines the gates of the `qelib1.inc` that
//! Qiskit ships (the 23 gates of the original paper and the legacy additions
//! `u0 u p sx sxdg swap cswap crx cry cp csx cu rxx rzz rccx rc3x c3x c3sqrtx
//! c4x`); a program may redefine one of the legacy additions, as Qiskit's
//! default loader does not know them. Each gate becomes the ferroq native
//! gate of the same matrix (Qiskit's conventions, global phase included), so
//! the final state equals Qiskit's exactly, global phase included. `if` is
//! rejected: ferroq circuits have no classical conditions. Other include files
//! are rejected. A few harmless leniencies go beyond Qiskit: `/* */` block
//! comments (OpenQASM 3 syntax), identifiers starting with a capital letter,
//! integers with leading zeros and a repeated `include "qelib1.inc";` (ignored).
//! Gates and registers share one namespace, as in Qiskit. Every error is
//! [`Error::Qasm`] with a 1-based line and column (in characters); no input
//! makes the parser panic.

use crate::circuit::Circuit;
use crate::circuit::control::{BinaryOp, Expr as Condition};
use crate::circuit::gates::GateKind;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::rc::Rc;

/// Most nested parentheses / unary operators in one expression.
const MAX_DEPTH: usize = 200;
/// Most binary operators in one expression (each adds a level to its tree).
const MAX_OPERATORS: usize = 1000;
/// Most levels of gate definitions calling gate definitions.
const MAX_GATE_DEPTH: usize = 1000;
/// Most operations a program may expand to (gate definitions can nest).
const MAX_OPS: usize = 5_000_000;
/// Most qubits or clbits in all registers together.
const MAX_BITS: u64 = 1 << 20;

/// Parses an OpenQASM 2.0 program into a circuit.
pub fn parse(source: &str) -> Result<Circuit> {
    let tokens = lex(source)?;
    let mut parser = Parser::new(tokens);
    parser.program()?;
    parser.build()
}

fn err<T>(pos: Pos, message: impl Into<String>) -> Result<T> {
    Err(Error::Qasm {
        line: pos.line,
        column: pos.col,
        message: message.into(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Pos {
    line: usize,
    col: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(String),
    Real(String),
    Str(String),
    Sym(&'static str),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Int(s) | Tok::Real(s) => format!("'{s}'"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Sym(s) => format!("'{s}'"),
            Tok::Eof => "end of file".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: Pos,
    /// Position just after the token.
    end: Pos,
}

const SYMBOLS: &[&str] = &[
    "->", "==", ";", ",", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/", "^",
];

fn lex(source: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    // Advances over `n` chars, tracking line and column.
    let advance = |i: &mut usize, line: &mut usize, col: &mut usize, n: usize| {
        for _ in 0..n {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, 1);
            continue;
        }
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            advance(&mut i, &mut line, &mut col, 2);
            loop {
                if i >= chars.len() {
                    return err(pos, "unterminated block comment");
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    advance(&mut i, &mut line, &mut col, 2);
                    break;
                }
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        let start = i;
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                advance(&mut i, &mut line, &mut col, 1);
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            let mut real = false;
            while i < chars.len() && chars[i].is_ascii_digit() {
                advance(&mut i, &mut line, &mut col, 1);
            }
            if chars.get(i) == Some(&'.') {
                real = true;
                advance(&mut i, &mut line, &mut col, 1);
                while i < chars.len() && chars[i].is_ascii_digit() {
                    advance(&mut i, &mut line, &mut col, 1);
                }
            }
            if matches!(chars.get(i), Some('e' | 'E')) {
                real = true;
                let mut j = i + 1;
                if matches!(chars.get(j), Some('+' | '-')) {
                    j += 1;
                }
                if !chars.get(j).is_some_and(|d| d.is_ascii_digit()) {
                    return err(
                        pos,
                        "malformed number: the exponent needs at least one digit",
                    );
                }
                while chars.get(j).is_some_and(|d| d.is_ascii_digit()) {
                    j += 1;
                }
                let n = j - i;
                advance(&mut i, &mut line, &mut col, n);
            }
            let text: String = chars[start..i].iter().collect();
            if i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == '_') {
                return err(pos, format!("malformed number '{text}{}'", chars[i]));
            }
            if real {
                Tok::Real(text)
            } else {
                Tok::Int(text)
            }
        } else if c == '"' {
            advance(&mut i, &mut line, &mut col, 1);
            while i < chars.len() && chars[i] != '"' && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, 1);
            }
            if chars.get(i) != Some(&'"') {
                return err(pos, "unterminated string");
            }
            advance(&mut i, &mut line, &mut col, 1);
            Tok::Str(chars[start + 1..i - 1].iter().collect())
        } else if let Some(sym) = SYMBOLS.iter().find(|s| {
            let mut it = s.chars();
            let first = it.next();
            let second = it.next();
            first == Some(c) && (second.is_none() || second == next)
        }) {
            advance(&mut i, &mut line, &mut col, sym.len());
            Tok::Sym(sym)
        } else if c == '=' {
            return err(pos, "unexpected '=': the comparison operator is '=='");
        } else if c == '>' {
            return err(pos, "unexpected '>': the measure arrow is '->'");
        } else {
            return err(pos, format!("unexpected character {c:?}"));
        };
        tokens.push(Token {
            tok,
            pos,
            end: Pos { line, col },
        });
    }
    let pos = Pos { line, col };
    tokens.push(Token {
        tok: Tok::Eof,
        pos,
        end: pos,
    });
    Ok(tokens)
}

#[derive(Debug, Clone, Copy)]
enum Func {
    Sin,
    Cos,
    Tan,
    Exp,
    Ln,
    Sqrt,
    Asin,
    Acos,
    Atan,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "tan" => Func::Tan,
            "exp" => Func::Exp,
            "ln" => Func::Ln,
            "sqrt" => Func::Sqrt,
            "asin" => Func::Asin,
            "acos" => Func::Acos,
            "atan" => Func::Atan,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
enum Expr {
    Num(f64),
    Param(usize),
    Neg(Box<Expr>),
    Bin(char, Box<Expr>, Box<Expr>),
    Call(Func, Box<Expr>),
}

impl Expr {
    fn eval(&self, env: &[f64]) -> f64 {
        match self {
            Expr::Num(v) => *v,
            Expr::Param(i) => env.get(*i).copied().unwrap_or(f64::NAN),
            Expr::Neg(e) => -e.eval(env),
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.eval(env), b.eval(env));
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    '/' => a / b,
                    _ => a.powf(b),
                }
            }
            Expr::Call(f, e) => {
                let v = e.eval(env);
                match f {
                    Func::Sin => v.sin(),
                    Func::Cos => v.cos(),
                    Func::Tan => v.tan(),
                    Func::Exp => v.exp(),
                    Func::Ln => v.ln(),
                    Func::Sqrt => v.sqrt(),
                    Func::Asin => v.asin(),
                    Func::Acos => v.acos(),
                    Func::Atan => v.atan(),
                }
            }
        }
    }
}

/// A gate the program can call.
#[derive(Debug, Clone)]
enum Gate {
    /// A ferroq native gate; `params` may exceed the kind's own count (u0).
    Native {
        kind: GateKind,
        params: usize,
        qubits: usize,
    },
    Defined(Rc<Definition>),
    Opaque {
        params: usize,
        qubits: usize,
    },
}

impl Gate {
    fn counts(&self) -> (usize, usize) {
        match self {
            Gate::Native { params, qubits, .. } | Gate::Opaque { params, qubits } => {
                (*params, *qubits)
            }
            Gate::Defined(d) => (d.params, d.qubits),
        }
    }
}

#[derive(Debug)]
struct Definition {
    params: usize,
    qubits: usize,
    body: Vec<BodyOp>,
    /// Levels of definitions below and including this one.
    depth: usize,
}

#[derive(Debug)]
enum BodyOp {
    Call {
        name: String,
        gate: Gate,
        params: Vec<Expr>,
        args: Vec<usize>,
        pos: Pos,
    },
    Barrier(Vec<usize>),
}

#[derive(Debug, Clone, Copy)]
struct Register {
    quantum: bool,
    start: usize,
    size: usize,
}

/// One operation of the flattened program.
enum Op {
    Gate(GateKind, Vec<usize>, Vec<f64>, Pos),
    Measure(usize, usize, Pos),
    Reset(usize, Pos),
    Barrier(Vec<usize>, Pos),
    /// `if (creg == value) qop;`: the clbits of the register, the value, and
    /// the operations of `qop`.
    If(Vec<usize>, u64, Vec<Op>, Pos),
}

/// A top-level operand: a whole register or one of its bits.
struct Operand {
    name: String,
    reg: Register,
    index: Option<usize>,
    pos: Pos,
}

/// Gates of `qelib1.inc` that are ferroq native gates: (name, kind, params, qubits).
const QELIB1_NATIVE: &[(&str, GateKind, usize, usize)] = &[
    ("u3", GateKind::U3, 3, 1),
    ("u2", GateKind::U2, 2, 1),
    ("u1", GateKind::U1, 1, 1),
    ("cx", GateKind::Cx, 0, 2),
    ("id", GateKind::Id, 0, 1),
    ("x", GateKind::X, 0, 1),
    ("y", GateKind::Y, 0, 1),
    ("z", GateKind::Z, 0, 1),
    ("h", GateKind::H, 0, 1),
    ("s", GateKind::S, 0, 1),
    ("sdg", GateKind::Sdg, 0, 1),
    ("t", GateKind::T, 0, 1),
    ("tdg", GateKind::Tdg, 0, 1),
    ("rx", GateKind::Rx, 1, 1),
    ("ry", GateKind::Ry, 1, 1),
    ("rz", GateKind::Rz, 1, 1),
    ("cz", GateKind::Cz, 0, 2),
    ("cy", GateKind::Cy, 0, 2),
    ("ch", GateKind::Ch, 0, 2),
    ("ccx", GateKind::Ccx, 0, 3),
    ("crz", GateKind::Crz, 1, 2),
    ("cu1", GateKind::Cu1, 1, 2),
    ("cu3", GateKind::Cu3, 3, 2),
    // The legacy additions, which a program may redefine.
    ("u0", GateKind::Id, 1, 1),
    ("u", GateKind::U, 3, 1),
    ("p", GateKind::P, 1, 1),
    ("sx", GateKind::Sx, 0, 1),
    ("sxdg", GateKind::Sxdg, 0, 1),
    ("swap", GateKind::Swap, 0, 2),
    ("cswap", GateKind::Cswap, 0, 3),
    ("crx", GateKind::Crx, 1, 2),
    ("cry", GateKind::Cry, 1, 2),
    ("cp", GateKind::Cp, 1, 2),
    ("csx", GateKind::Csx, 0, 2),
    ("cu", GateKind::Cu, 4, 2),
    ("rxx", GateKind::Rxx, 1, 2),
    ("rzz", GateKind::Rzz, 1, 2),
    ("rccx", GateKind::Rccx, 0, 3),
    ("c3x", GateKind::Mcx, 0, 4),
    ("c4x", GateKind::Mcx, 0, 5),
];

/// Index in [`QELIB1_NATIVE`] where the redefinable legacy additions start.
const QELIB1_ORIGINAL: usize = 23;

/// The legacy `qelib1.inc` gates with no native equivalent, as Qiskit's file
/// defines them.
const QELIB1_DEFINED: &str = "
gate rc3x a,b,c,d {
  u2(0,pi) d; u1(pi/4) d; cx c,d; u1(-pi/4) d; u2(0,pi) d; cx a,d; u1(pi/4) d;
  cx b,d; u1(-pi/4) d; cx a,d; u1(pi/4) d; cx b,d; u1(-pi/4) d; u2(0,pi) d;
  u1(pi/4) d; cx c,d; u1(-pi/4) d; u2(0,pi) d;
}
gate c3sqrtx a,b,c,d {
  h d; cu1(pi/8) a,d; h d; cx a,b; h d; cu1(-pi/8) b,d; h d; cx a,b;
  h d; cu1(pi/8) b,d; h d; cx b,c; h d; cu1(-pi/8) c,d; h d; cx a,c;
  h d; cu1(pi/8) c,d; h d; cx b,c; h d; cu1(-pi/8) c,d; h d; cx a,c;
  h d; cu1(pi/8) c,d; h d;
}
";

const RESERVED: &[&str] = &[
    "OPENQASM", "include", "qreg", "creg", "gate", "opaque", "measure", "reset", "barrier", "if",
    "pi", "U", "CX",
];

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    gates: HashMap<String, Gate>,
    /// Names a program may redefine (the legacy `qelib1.inc` additions).
    redefinable: Vec<String>,
    registers: HashMap<String, Register>,
    num_qubits: usize,
    num_clbits: usize,
    ops: Vec<Op>,
    budget: usize,
    /// Binary operators in the expression being parsed.
    operators: usize,
    included: bool,
    statements: usize,
}

impl Parser {
    fn new(tokens: Vec<Token>) -> Parser {
        let mut gates = HashMap::new();
        gates.insert(
            "U".to_string(),
            Gate::Native {
                kind: GateKind::U,
                params: 3,
                qubits: 1,
            },
        );
        gates.insert(
            "CX".to_string(),
            Gate::Native {
                kind: GateKind::Cx,
                params: 0,
                qubits: 2,
            },
        );
        Parser {
            tokens,
            at: 0,
            gates,
            redefinable: Vec::new(),
            registers: HashMap::new(),
            num_qubits: 0,
            num_clbits: 0,
            ops: Vec::new(),
            budget: MAX_OPS,
            operators: 0,
            included: false,
            statements: 0,
        }
    }

    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(&self.peek().tok, Tok::Sym(s) if *s == sym)
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        let yes = self.is_sym(sym);
        if yes {
            self.bump();
        }
        yes
    }

    fn expect_sym(&mut self, sym: &str, context: &str) -> Result<Token> {
        if self.is_sym(sym) {
            return Ok(self.bump());
        }
        let found = self.peek().clone();
        // A missing ';' is reported just after the statement it should end.
        let pos = if sym == ";" && self.at > 0 {
            self.tokens[self.at - 1].end
        } else {
            found.pos
        };
        err(
            pos,
            format!("expected '{sym}' {context}, found {}", found.tok.describe()),
        )
    }

    fn expect_ident(&mut self, what: &str) -> Result<(String, Pos)> {
        let t = self.bump();
        match t.tok {
            Tok::Ident(name) => Ok((name, t.pos)),
            other => err(
                t.pos,
                format!("expected {what}, found {}", other.describe()),
            ),
        }
    }

    fn expect_new_name(&mut self, what: &str) -> Result<(String, Pos)> {
        let (name, pos) = self.expect_ident(what)?;
        if RESERVED.contains(&name.as_str()) {
            return err(pos, format!("'{name}' is a reserved word"));
        }
        Ok((name, pos))
    }

    fn expect_int(&mut self, what: &str) -> Result<(u64, Pos)> {
        let t = self.bump();
        match &t.tok {
            Tok::Int(text) => match text.parse::<u64>() {
                Ok(v) => Ok((v, t.pos)),
                Err(_) => err(t.pos, format!("integer {text} is too large")),
            },
            other => err(
                t.pos,
                format!("expected {what}, found {}", other.describe()),
            ),
        }
    }

    fn program(&mut self) -> Result<()> {
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::Eof => return Ok(()),
                Tok::Sym(";") => {
                    self.bump();
                    continue;
                }
                _ => {}
            }
            self.statement()?;
            self.statements += 1;
        }
    }

    fn statement(&mut self) -> Result<()> {
        let t = self.peek().clone();
        let word = match &t.tok {
            Tok::Ident(w) => w.clone(),
            other => {
                return err(
                    t.pos,
                    format!("expected a statement, found {}", other.describe()),
                );
            }
        };
        match word.as_str() {
            "OPENQASM" => self.version(),
            "include" => self.include(),
            "qreg" | "creg" => self.declare(),
            "gate" => self.gate_definition(),
            "opaque" => self.opaque(),
            "measure" => self.measure(),
            "reset" => self.reset(),
            "barrier" => self.barrier(),
            "if" => self.if_statement(),
            _ => self.gate_call(),
        }
    }

    /// `if (creg == value) qop;`: `qop` runs in the shots where the register
    /// reads `value`.
    fn if_statement(&mut self) -> Result<()> {
        let kw = self.bump();
        self.expect_sym("(", "after 'if'")?;
        let (name, pos) = self.expect_ident("a classical register")?;
        let reg = match self.registers.get(&name) {
            Some(r) if !r.quantum => (r.start, r.size),
            Some(_) => {
                return err(
                    pos,
                    format!("'{name}' is a quantum register; 'if' tests a classical one"),
                );
            }
            None => return err(pos, format!("undeclared register '{name}'")),
        };
        self.expect_sym("==", "after the register")?;
        let (value, vpos) = self.expect_int("an integer")?;
        if reg.1 < 64 && value >> reg.1 != 0 {
            return err(
                vpos,
                format!("{value} does not fit in the {} bits of '{name}'", reg.1),
            );
        }
        if reg.1 > 64 {
            return err(
                pos,
                format!(
                    "'if' tests registers of at most 64 bits; '{name}' has {}",
                    reg.1
                ),
            );
        }
        self.expect_sym(")", "after the condition")?;
        let t = self.peek().clone();
        let qop = matches!(&t.tok, Tok::Ident(w) if !matches!(
            w.as_str(),
            "OPENQASM" | "include" | "qreg" | "creg" | "gate" | "opaque" | "barrier" | "if"
        ));
        if !qop {
            return err(
                t.pos,
                format!(
                    "'if' conditions a gate, measure or reset, not {}",
                    t.tok.describe()
                ),
            );
        }
        let before = self.ops.len();
        self.statement()?;
        let body = self.ops.split_off(before);
        let bits = (reg.0..reg.0 + reg.1).collect();
        self.ops.push(Op::If(bits, value, body, kw.pos));
        Ok(())
    }

    fn version(&mut self) -> Result<()> {
        let kw = self.bump();
        if self.statements > 0 {
            return err(
                kw.pos,
                "the 'OPENQASM' version statement must be the first statement",
            );
        }
        let t = self.bump();
        match &t.tok {
            Tok::Int(v) | Tok::Real(v) if v == "2" || v == "2.0" => {}
            Tok::Int(v) | Tok::Real(v) => {
                return err(
                    t.pos,
                    format!("unsupported OpenQASM version '{v}': only 2.0 is supported"),
                );
            }
            other => {
                return err(
                    t.pos,
                    format!("expected a version number, found {}", other.describe()),
                );
            }
        }
        self.expect_sym(";", "after the version")?;
        Ok(())
    }

    fn include(&mut self) -> Result<()> {
        self.bump();
        let t = self.bump();
        let file = match t.tok {
            Tok::Str(s) => s,
            other => {
                return err(
                    t.pos,
                    format!("expected a file name in quotes, found {}", other.describe()),
                );
            }
        };
        if file != "qelib1.inc" {
            return err(
                t.pos,
                format!("cannot include '{file}': only \"qelib1.inc\" is available"),
            );
        }
        self.expect_sym(";", "after the include")?;
        if !self.included {
            self.included = true;
            self.define_qelib1()?;
        }
        Ok(())
    }

    fn define_qelib1(&mut self) -> Result<()> {
        for (i, &(name, kind, params, qubits)) in QELIB1_NATIVE.iter().enumerate() {
            self.gates.insert(
                name.to_string(),
                Gate::Native {
                    kind,
                    params,
                    qubits,
                },
            );
            if i >= QELIB1_ORIGINAL {
                self.redefinable.push(name.to_string());
            }
        }
        let mut sub = Parser::new(lex(QELIB1_DEFINED)?);
        sub.gates = std::mem::take(&mut self.gates);
        sub.program()?;
        self.gates = sub.gates;
        self.redefinable.extend(["rc3x".into(), "c3sqrtx".into()]);
        Ok(())
    }

    fn declare(&mut self) -> Result<()> {
        let kw = self.bump();
        let quantum = kw.tok == Tok::Ident("qreg".into());
        let (name, pos) = self.expect_new_name("a register name")?;
        self.expect_sym("[", "before the register size")?;
        let (size, size_pos) = self.expect_int("a register size")?;
        self.expect_sym("]", "after the register size")?;
        self.expect_sym(";", "after the declaration")?;
        if self.registers.contains_key(&name) {
            return err(pos, format!("register '{name}' is already declared"));
        }
        if self.gates.contains_key(&name) {
            return err(pos, format!("'{name}' is already defined as a gate"));
        }
        let total = if quantum {
            &mut self.num_qubits
        } else {
            &mut self.num_clbits
        };
        if size > MAX_BITS - *total as u64 {
            return err(
                size_pos,
                format!("register '{name}' makes the circuit larger than {MAX_BITS} bits"),
            );
        }
        let start = *total;
        *total += size as usize;
        self.registers.insert(
            name,
            Register {
                quantum,
                start,
                size: size as usize,
            },
        );
        Ok(())
    }

    /// `name [(p, ...)] a, b, ...` of a gate or opaque declaration.
    fn signature(&mut self) -> Result<(String, Pos, Vec<String>, Vec<String>)> {
        let (name, pos) = self.expect_new_name("a gate name")?;
        let mut params: Vec<String> = Vec::new();
        if self.eat_sym("(") {
            while !self.is_sym(")") {
                let (p, ppos) = self.expect_new_name("a parameter name")?;
                if params.contains(&p) {
                    return err(ppos, format!("parameter '{p}' is repeated"));
                }
                params.push(p);
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")", "after the parameters")?;
        }
        let mut args: Vec<String> = Vec::new();
        loop {
            let (a, apos) = self.expect_new_name("a qubit argument name")?;
            if args.contains(&a) {
                return err(apos, format!("qubit argument '{a}' is repeated"));
            }
            if params.contains(&a) {
                return err(apos, format!("'{a}' is already a parameter name"));
            }
            args.push(a);
            if !self.eat_sym(",") || !matches!(self.peek().tok, Tok::Ident(_)) {
                break;
            }
        }
        Ok((name, pos, params, args))
    }

    fn check_new_gate(&self, name: &str, pos: Pos) -> Result<()> {
        if self.gates.contains_key(name) && !self.redefinable.iter().any(|r| r == name) {
            return err(pos, format!("gate '{name}' is already defined"));
        }
        if self.registers.contains_key(name) {
            return err(pos, format!("'{name}' is already declared as a register"));
        }
        Ok(())
    }

    fn opaque(&mut self) -> Result<()> {
        self.bump();
        let (name, pos, params, args) = self.signature()?;
        self.expect_sym(";", "after the opaque declaration")?;
        self.check_new_gate(&name, pos)?;
        self.gates.insert(
            name,
            Gate::Opaque {
                params: params.len(),
                qubits: args.len(),
            },
        );
        Ok(())
    }

    fn gate_definition(&mut self) -> Result<()> {
        self.bump();
        let (name, pos, params, args) = self.signature()?;
        self.check_new_gate(&name, pos)?;
        self.expect_sym("{", "to open the gate body")?;
        let mut body = Vec::new();
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::Sym("}") => {
                    self.bump();
                    break;
                }
                Tok::Sym(";") => {
                    self.bump();
                }
                Tok::Ident(w) if w == "barrier" => {
                    self.bump();
                    let qubits = self.body_args(&args, "barrier")?;
                    self.expect_sym(";", "after the barrier")?;
                    body.push(BodyOp::Barrier(qubits));
                }
                Tok::Ident(w)
                    if matches!(
                        w.as_str(),
                        "measure" | "reset" | "if" | "qreg" | "creg" | "gate" | "opaque"
                    ) =>
                {
                    return err(t.pos, format!("'{w}' is not allowed in a gate body"));
                }
                Tok::Ident(_) => {
                    let (gname, gpos) = self.expect_ident("a gate name")?;
                    let gate = self.lookup(&gname, gpos)?;
                    let exprs = self.call_params(&params)?;
                    let qubits = self.body_args(&args, &gname)?;
                    self.expect_sym(";", "after the gate call")?;
                    check_counts(&gname, &gate, exprs.len(), qubits.len(), gpos)?;
                    if let Some(q) = first_repeat(&qubits) {
                        return err(
                            gpos,
                            format!(
                                "gate '{gname}': qubit argument '{}' is repeated",
                                args[qubits[q]]
                            ),
                        );
                    }
                    body.push(BodyOp::Call {
                        name: gname,
                        gate,
                        params: exprs,
                        args: qubits,
                        pos: gpos,
                    });
                }
                Tok::Eof => {
                    return err(t.pos, format!("gate '{name}': body is missing its '}}'"));
                }
                other => {
                    return err(
                        t.pos,
                        format!(
                            "expected a gate call in the body of '{name}', found {}",
                            other.describe()
                        ),
                    );
                }
            }
        }
        let depth = 1 + body
            .iter()
            .map(|op| match op {
                BodyOp::Call {
                    gate: Gate::Defined(d),
                    ..
                } => d.depth,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        if depth > MAX_GATE_DEPTH {
            return err(
                pos,
                format!("gate '{name}': definitions are nested more than {MAX_GATE_DEPTH} deep"),
            );
        }
        self.gates.insert(
            name.clone(),
            Gate::Defined(Rc::new(Definition {
                depth,
                params: params.len(),
                qubits: args.len(),
                body,
            })),
        );
        self.redefinable.retain(|r| *r != name);
        Ok(())
    }

    fn lookup(&self, name: &str, pos: Pos) -> Result<Gate> {
        match self.gates.get(name) {
            Some(g) => Ok(g.clone()),
            None if self.registers.contains_key(name) => {
                err(pos, format!("'{name}' is a register, not a gate"))
            }
            None if !self.included && QELIB1_NATIVE.iter().any(|g| g.0 == name) => err(
                pos,
                format!(
                    "unknown gate '{name}' (add 'include \"qelib1.inc\";' to use the standard gates)"
                ),
            ),
            None => err(pos, format!("unknown gate '{name}'")),
        }
    }

    /// Identifiers of a gate body's call: each must be a qubit argument.
    fn body_args(&mut self, args: &[String], gate: &str) -> Result<Vec<usize>> {
        let mut out = Vec::new();
        loop {
            let (a, apos) = self.expect_ident("a qubit argument")?;
            let Some(i) = args.iter().position(|x| *x == a) else {
                return err(
                    apos,
                    format!("'{a}' is not a qubit argument of this gate definition"),
                );
            };
            if self.is_sym("[") {
                return err(
                    self.peek().pos,
                    format!("'{gate}': qubit arguments cannot be indexed inside a gate body"),
                );
            }
            out.push(i);
            if !self.eat_sym(",") || !matches!(self.peek().tok, Tok::Ident(_)) {
                break;
            }
        }
        Ok(out)
    }

    /// `( expr, ... )` if present.
    fn call_params(&mut self, names: &[String]) -> Result<Vec<Expr>> {
        let mut out = Vec::new();
        if self.eat_sym("(") {
            while !self.is_sym(")") {
                self.operators = 0;
                out.push(self.expr(names, 0)?);
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")", "after the parameters")?;
        }
        Ok(out)
    }

    fn count_operator(&mut self) -> Result<()> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return err(
                self.peek().pos,
                format!("expression has more than {MAX_OPERATORS} operators"),
            );
        }
        Ok(())
    }

    fn expr(&mut self, names: &[String], depth: usize) -> Result<Expr> {
        let mut left = self.term(names, depth)?;
        loop {
            let op = if self.is_sym("+") {
                '+'
            } else if self.is_sym("-") {
                '-'
            } else {
                return Ok(left);
            };
            self.bump();
            let right = self.term(names, depth)?;
            self.count_operator()?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn term(&mut self, names: &[String], depth: usize) -> Result<Expr> {
        let mut left = self.unary(names, depth)?;
        loop {
            let op = if self.is_sym("*") {
                '*'
            } else if self.is_sym("/") {
                '/'
            } else {
                return Ok(left);
            };
            self.bump();
            let right = self.unary(names, depth)?;
            self.count_operator()?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self, names: &[String], depth: usize) -> Result<Expr> {
        if depth > MAX_DEPTH {
            return err(self.peek().pos, "expression is nested too deeply");
        }
        if self.eat_sym("-") {
            return Ok(Expr::Neg(Box::new(self.unary(names, depth + 1)?)));
        }
        if self.eat_sym("+") {
            return self.unary(names, depth + 1);
        }
        let base = self.atom(names, depth)?;
        if self.eat_sym("^") {
            let exp = self.unary(names, depth + 1)?;
            return Ok(Expr::Bin('^', Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }

    fn atom(&mut self, names: &[String], depth: usize) -> Result<Expr> {
        let t = self.bump();
        match &t.tok {
            Tok::Int(s) | Tok::Real(s) => match s.parse::<f64>() {
                Ok(v) => Ok(Expr::Num(v)),
                Err(_) => err(t.pos, format!("malformed number '{s}'")),
            },
            Tok::Sym("(") => {
                let e = self.expr(names, depth + 1)?;
                self.expect_sym(")", "to close the parenthesis")?;
                Ok(e)
            }
            Tok::Ident(name) if name == "pi" => Ok(Expr::Num(std::f64::consts::PI)),
            Tok::Ident(name) => {
                if self.is_sym("(") {
                    if let Some(f) = Func::from_name(name) {
                        self.bump();
                        let e = self.expr(names, depth + 1)?;
                        self.expect_sym(")", "after the function argument")?;
                        return Ok(Expr::Call(f, Box::new(e)));
                    }
                    return err(t.pos, format!("unknown function '{name}'"));
                }
                match names.iter().position(|n| n == name) {
                    Some(i) => Ok(Expr::Param(i)),
                    None => err(t.pos, format!("'{name}' is not a parameter in this scope")),
                }
            }
            other => err(
                t.pos,
                format!("expected an expression, found {}", other.describe()),
            ),
        }
    }

    fn operand(&mut self) -> Result<Operand> {
        let (name, pos) = self.expect_ident("a register")?;
        let Some(reg) = self.registers.get(&name).copied() else {
            return err(pos, format!("register '{name}' is not declared"));
        };
        let index = if self.eat_sym("[") {
            let (i, ipos) = self.expect_int("an index")?;
            self.expect_sym("]", "after the index")?;
            if i >= reg.size as u64 {
                return err(
                    ipos,
                    format!(
                        "index {i} is out of range for register '{name}' of size {}",
                        reg.size
                    ),
                );
            }
            Some(i as usize)
        } else {
            None
        };
        Ok(Operand {
            name,
            reg,
            index,
            pos,
        })
    }

    fn operands(&mut self) -> Result<Vec<Operand>> {
        let mut out = vec![self.operand()?];
        while self.eat_sym(",") && matches!(self.peek().tok, Tok::Ident(_)) {
            out.push(self.operand()?);
        }
        Ok(out)
    }

    fn require(&self, op: &Operand, quantum: bool, what: &str) -> Result<()> {
        if op.reg.quantum != quantum {
            let kind = if quantum { "quantum" } else { "classical" };
            return err(
                op.pos,
                format!("{what}: '{}' is not a {kind} register", op.name),
            );
        }
        Ok(())
    }

    /// Broadcast length of `ops`: the common size of the whole registers.
    fn broadcast(ops: &[Operand], what: &str) -> Result<usize> {
        let mut size: Option<(usize, &str)> = None;
        for op in ops.iter().filter(|o| o.index.is_none()) {
            match size {
                None => size = Some((op.reg.size, &op.name)),
                Some((n, first)) if n != op.reg.size => {
                    return err(
                        op.pos,
                        format!(
                            "{what}: register '{}' has size {} but register '{first}' has size {n}",
                            op.name, op.reg.size
                        ),
                    );
                }
                _ => {}
            }
        }
        Ok(size.map_or(1, |s| s.0))
    }

    fn bit(op: &Operand, i: usize) -> usize {
        op.reg.start + op.index.unwrap_or(i)
    }

    fn measure(&mut self) -> Result<()> {
        let kw = self.bump();
        let q = self.operand()?;
        self.expect_sym("->", "between the qubit and the clbit")?;
        let c = self.operand()?;
        self.expect_sym(";", "after the measure")?;
        self.require(&q, true, "measure")?;
        self.require(&c, false, "measure")?;
        if q.index.is_none() != c.index.is_none() {
            return err(
                c.pos,
                "measure: both operands must be whole registers or both single bits",
            );
        }
        let pair = [q, c];
        let n = Self::broadcast(&pair, "measure")?;
        self.spend(n, kw.pos)?;
        for i in 0..n {
            let op = Op::Measure(Self::bit(&pair[0], i), Self::bit(&pair[1], i), kw.pos);
            self.ops.push(op);
        }
        Ok(())
    }

    fn reset(&mut self) -> Result<()> {
        let kw = self.bump();
        let q = self.operand()?;
        self.expect_sym(";", "after the reset")?;
        self.require(&q, true, "reset")?;
        let n = if q.index.is_some() { 1 } else { q.reg.size };
        self.spend(n, kw.pos)?;
        for i in 0..n {
            self.ops.push(Op::Reset(Self::bit(&q, i), kw.pos));
        }
        Ok(())
    }

    fn barrier(&mut self) -> Result<()> {
        let kw = self.bump();
        let mut qubits = Vec::new();
        if !self.is_sym(";") {
            for op in self.operands()? {
                self.require(&op, true, "barrier")?;
                match op.index {
                    Some(_) => qubits.push(Self::bit(&op, 0)),
                    None => qubits.extend((0..op.reg.size).map(|i| op.reg.start + i)),
                }
            }
        } else {
            qubits.extend(0..self.num_qubits);
        }
        self.expect_sym(";", "after the barrier")?;
        qubits.sort_unstable();
        qubits.dedup();
        // Charged per qubit: a barrier's list is what it costs to hold, and a
        // short program of barriers over a wide register must not hold more.
        self.spend(qubits.len().max(1), kw.pos)?;
        self.ops.push(Op::Barrier(qubits, kw.pos));
        Ok(())
    }

    fn gate_call(&mut self) -> Result<()> {
        let (name, pos) = self.expect_ident("a gate name")?;
        let gate = self.lookup(&name, pos)?;
        let exprs = self.call_params(&[])?;
        let operands = self.operands()?;
        self.expect_sym(";", "after the gate call")?;
        check_counts(&name, &gate, exprs.len(), operands.len(), pos)?;
        for op in &operands {
            self.require(op, true, &format!("gate '{name}'"))?;
        }
        let params: Vec<f64> = exprs.iter().map(|e| e.eval(&[])).collect();
        check_finite(&name, &params, pos)?;
        let n = Self::broadcast(&operands, &format!("gate '{name}'"))?;
        for i in 0..n {
            let qubits: Vec<usize> = operands.iter().map(|o| Self::bit(o, i)).collect();
            if let Some(q) = first_repeat(&qubits) {
                return err(
                    pos,
                    format!("gate '{name}': qubit {} is used more than once", qubits[q]),
                );
            }
            self.apply(&name, &gate, &params, &qubits, pos)?;
        }
        Ok(())
    }

    fn spend(&mut self, n: usize, pos: Pos) -> Result<()> {
        if n > self.budget {
            return err(
                pos,
                format!("the program expands to more than {MAX_OPS} operations"),
            );
        }
        self.budget -= n;
        Ok(())
    }

    fn apply(
        &mut self,
        name: &str,
        gate: &Gate,
        params: &[f64],
        qubits: &[usize],
        pos: Pos,
    ) -> Result<()> {
        self.spend(1, pos)?;
        match gate {
            Gate::Native { kind, .. } => {
                let params = if kind.num_params() == 0 {
                    Vec::new()
                } else {
                    params.to_vec()
                };
                self.ops.push(Op::Gate(*kind, qubits.to_vec(), params, pos));
                Ok(())
            }
            Gate::Opaque { .. } => err(
                pos,
                format!(
                    "gate '{name}' is opaque (declared without a definition) and cannot be simulated"
                ),
            ),
            Gate::Defined(def) => {
                for op in &def.body {
                    match op {
                        BodyOp::Barrier(args) => {
                            self.spend(args.len().max(1), pos)?;
                            let qs = args.iter().map(|&a| qubits[a]).collect();
                            self.ops.push(Op::Barrier(qs, pos));
                        }
                        BodyOp::Call {
                            name: inner,
                            gate: g,
                            params: exprs,
                            args,
                            pos: ipos,
                        } => {
                            let ps: Vec<f64> = exprs.iter().map(|e| e.eval(params)).collect();
                            check_finite(inner, &ps, *ipos)?;
                            let qs: Vec<usize> = args.iter().map(|&a| qubits[a]).collect();
                            self.apply(inner, g, &ps, &qs, *ipos)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn build(self) -> Result<Circuit> {
        let mut circuit = Circuit::new(self.num_qubits, self.num_clbits);
        append_ops(&mut circuit, self.ops)?;
        Ok(circuit)
    }
}

/// Appends `ops` to `circuit`, an error naming the position of the one at fault.
fn append_ops(circuit: &mut Circuit, ops: Vec<Op>) -> Result<()> {
    let as_i64 = |qs: &[usize]| qs.iter().map(|&q| q as i64).collect::<Vec<_>>();
    for op in ops {
        let (result, pos) = match op {
            Op::Gate(kind, qs, ps, pos) => (circuit.append_kind(kind, &as_i64(&qs), &ps), pos),
            Op::Measure(q, c, pos) => (circuit.measure(q as i64, c as i64), pos),
            Op::Reset(q, pos) => (circuit.reset(q as i64), pos),
            Op::Barrier(qs, pos) => {
                if qs.is_empty() {
                    continue;
                }
                (circuit.barrier(&as_i64(&qs)), pos)
            }
            Op::If(bits, value, body, pos) => {
                let mut block = Circuit::new(circuit.num_qubits(), circuit.num_clbits());
                append_ops(&mut block, body)?;
                let condition = Condition::Binary(
                    BinaryOp::Eq,
                    Box::new(Condition::Register(bits)),
                    Box::new(Condition::Value(value)),
                );
                (circuit.append_if_else(condition, &block, None), pos)
            }
        };
        if let Err(e) = result {
            return err(pos, e.to_string());
        }
    }
    Ok(())
}

fn check_counts(name: &str, gate: &Gate, params: usize, qubits: usize, pos: Pos) -> Result<()> {
    let (np, nq) = gate.counts();
    if params != np {
        return err(
            pos,
            format!("gate '{name}' takes {np} parameter(s), got {params}"),
        );
    }
    if qubits != nq {
        return err(
            pos,
            format!("gate '{name}' acts on {nq} qubit(s), got {qubits}"),
        );
    }
    Ok(())
}

fn check_finite(name: &str, params: &[f64], pos: Pos) -> Result<()> {
    if let Some((i, v)) = params.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return err(
            pos,
            format!("gate '{name}': parameter {i} evaluates to {v}; parameters must be finite"),
        );
    }
    Ok(())
}

fn first_repeat(items: &[usize]) -> Option<usize> {
    (1..items.len()).find(|&i| items[..i].contains(&items[i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::Instruction;

    const HEAD: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n";

    fn ok(src: &str) -> Circuit {
        match parse(src) {
            Ok(c) => c,
            Err(e) => panic!("{src}\n=> {e}"),
        }
    }

    /// (line, column, message) of the error `src` gives.
    fn bad(src: &str) -> (usize, usize, String) {
        match parse(src) {
            Err(Error::Qasm {
                line,
                column,
                message,
            }) => (line, column, message),
            other => panic!("{src}\n=> {other:?}"),
        }
    }

    fn names(c: &Circuit) -> Vec<&'static str> {
        c.instructions().iter().map(|i| i.name()).collect()
    }

    #[test]
    fn lexes_numbers_comments_and_positions() {
        let toks = lex("x 1 2.5 .5e-3 1E2 // c\n/* a\n b */ \"f\" -> ==").unwrap();
        let kinds: Vec<Tok> = toks.iter().map(|t| t.tok.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Tok::Ident("x".into()),
                Tok::Int("1".into()),
                Tok::Real("2.5".into()),
                Tok::Real(".5e-3".into()),
                Tok::Real("1E2".into()),
                Tok::Str("f".into()),
                Tok::Sym("->"),
                Tok::Sym("=="),
                Tok::Eof,
            ]
        );
        assert_eq!(toks[5].pos, Pos { line: 3, col: 7 });
        assert_eq!(
            lex("a\n  1e+").unwrap_err(),
            Error::Qasm {
                line: 2,
                column: 3,
                message: "malformed number: the exponent needs at least one digit".into()
            }
        );
        assert!(matches!(
            lex("/* open"),
            Err(Error::Qasm {
                line: 1,
                column: 1,
                ..
            })
        ));
        assert!(matches!(
            lex("\"open"),
            Err(Error::Qasm {
                line: 1,
                column: 1,
                ..
            })
        ));
    }

    #[test]
    fn registers_flatten_in_declaration_order() {
        let c = ok(&format!(
            "{HEAD}qreg a[2];\ncreg m[1];\nqreg b[3];\ncreg n[2];\nx b[1];\nmeasure b[2] -> n[1];"
        ));
        assert_eq!((c.num_qubits(), c.num_clbits()), (5, 3));
        assert_eq!(
            c.instructions()[0],
            Instruction::Gate {
                kind: GateKind::X,
                qubits: vec![3],
                params: vec![]
            }
        );
        assert_eq!(
            c.instructions()[1],
            Instruction::Measure { qubit: 4, clbit: 2 }
        );
    }

    #[test]
    fn builtins_without_include() {
        let c = ok("qreg q[2]; U(pi/2, 0, pi) q[0]; CX q[0], q[1];");
        assert_eq!(names(&c), ["u", "cx"]);
        let (_, _, m) = bad("qreg q[1]; h q[0];");
        assert!(
            m.contains("unknown gate 'h'") && m.contains("qelib1.inc"),
            "{m}"
        );
    }

    #[test]
    fn broadcast() {
        let c = ok(&format!(
            "{HEAD}qreg q[3]; qreg r[3]; creg c[3];\nh q; cx q, r; cx q[0], r; measure q -> c; reset r; barrier q, r[1];"
        ));
        let n = names(&c);
        assert_eq!(n.iter().filter(|x| **x == "h").count(), 3);
        assert_eq!(n.iter().filter(|x| **x == "cx").count(), 6);
        assert_eq!(n.iter().filter(|x| **x == "measure").count(), 3);
        assert_eq!(n.iter().filter(|x| **x == "reset").count(), 3);
        assert_eq!(
            c.instructions().last().unwrap(),
            &Instruction::Barrier {
                qubits: vec![0, 1, 2, 4]
            }
        );
        let (l, col, m) = bad(&format!("{HEAD}qreg q[3]; qreg r[2];\ncx q, r;"));
        assert_eq!((l, col), (4, 7));
        assert!(m.contains("size 2") && m.contains("size 3"), "{m}");
        let (_, _, m) = bad(&format!("{HEAD}qreg q[2];\ncx q[1], q;"));
        assert!(m.contains("more than once"), "{m}");
    }

    #[test]
    fn gate_definitions_expand_with_parameters() {
        let (_, _, m) = bad(&format!("{HEAD}gate k a {{ cx a, a; }}"));
        assert!(m.contains("repeated"), "{m}");
        let c = ok(&format!(
            "{HEAD}gate g(a, b) x, y {{ rz(a*2 - b/2) x; cx x, y; barrier x, y; }}\n\
             gate k(t) p, q {{ g(t, -t^2) q, p; }}\nqreg r[2];\nk(0.5) r[0], r[1];"
        ));
        match &c.instructions()[0] {
            Instruction::Gate {
                kind,
                qubits,
                params,
            } => {
                assert_eq!((*kind, qubits.as_slice()), (GateKind::Rz, &[1usize][..]));
                assert!((params[0] - (1.0 + 0.125)).abs() < 1e-15);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(names(&c), ["rz", "cx", "barrier"]);
    }

    #[test]
    fn if_runs_its_operation_when_the_register_reads_its_value() {
        use crate::sim::engine::run;
        use crate::sim::options::RunOptions;
        // Flip q[1] exactly when c reads 1: q[1] always ends equal to q[0].
        let text = "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[2]; creg c[1]; creg d[1];\n\
                    h q[0]; measure q[0] -> c[0]; if (c == 1) x q[1]; measure q[1] -> d[0];";
        let circuit = parse(text).unwrap();
        assert!(circuit.has_control_flow());
        let opts = RunOptions {
            shots: 400,
            seed: Some(4),
            ..RunOptions::default()
        };
        let r = run(&[circuit], &opts).unwrap();
        let e = &r.experiments[0];
        assert_eq!(e.count_keys, vec![0b00, 0b11]);
    }

    #[test]
    fn expressions() {
        let cases = [
            ("-2^2", -4.0),
            ("2^3^2", 512.0),
            ("-pi/2*2", -std::f64::consts::PI),
            ("1/2/2", 0.25),
            ("2*-3", -6.0),
            ("-2^-1", -0.5),
            ("ln(exp(1.5))", 1.5),
            ("sqrt(4) + sin(0) + cos(0) + tan(0)", 3.0),
            ("1e-1 + 2.", 2.1),
            ("((3))", 3.0),
            ("asin(1)*2", std::f64::consts::PI),
        ];
        for (e, want) in cases {
            let c = ok(&format!("{HEAD}qreg q[1]; rz({e}) q[0];"));
            let got = c.instructions()[0].params()[0];
            assert!((got - want).abs() < 1e-12, "{e}: {got} != {want}");
        }
        let deep = format!(
            "{HEAD}qreg q[1]; rz({}1{}) q[0];",
            "(".repeat(5000),
            ")".repeat(5000)
        );
        assert!(bad(&deep).2.contains("nested too deeply"));
        assert!(
            bad(&format!("{HEAD}qreg q[1]; rz(1/0) q[0];"))
                .2
                .contains("finite")
        );
        assert!(
            bad(&format!("{HEAD}qreg q[1]; rz(foo(1)) q[0];"))
                .2
                .contains("unknown function 'foo'")
        );
        assert!(
            bad(&format!("{HEAD}qreg q[1]; rz(t) q[0];"))
                .2
                .contains("'t' is not a parameter")
        );
    }

    #[test]
    fn error_positions() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("OPENQASM 3.0;", 1, 10, "unsupported OpenQASM version '3.0'"),
            (
                "qreg q[1];\nOPENQASM 2.0;",
                2,
                1,
                "must be the first statement",
            ),
            ("qreg q[1]\nU(0,0,0) q[0];", 1, 10, "expected ';'"),
            ("qreg q[1];\nqreg q[2];", 2, 6, "already declared"),
            ("qreg q[2];\nU(0,0,0) q[2];", 2, 12, "out of range"),
            (
                "qreg q[2];\nU(0,0,0) r[0];",
                2,
                10,
                "register 'r' is not declared",
            ),
            ("qreg q[2];\nfoo q[0];", 2, 1, "unknown gate 'foo'"),
            (
                "qreg q[2];\nU(0,0) q[0];",
                2,
                1,
                "takes 3 parameter(s), got 2",
            ),
            ("qreg q[2];\nCX q[0];", 2, 1, "acts on 2 qubit(s), got 1"),
            ("include \"other.inc\";", 1, 9, "cannot include 'other.inc'"),
            (
                "opaque g a;\nqreg q[1];\ng q[0];",
                3,
                1,
                "gate 'g' is opaque",
            ),
            (
                "qreg q[1]; creg c[1];\nif (c == 2) U(0,0,0) q[0];",
                2,
                10,
                "does not fit",
            ),
            (
                "qreg q[1]; creg c[1];\nif (q == 1) U(0,0,0) q[0];",
                2,
                5,
                "quantum register",
            ),
            (
                "qreg q[1]; creg c[1];\nif (c == 1) barrier q;",
                2,
                13,
                "'if' conditions a gate",
            ),
            (
                "gate g a { U(0,0,0) b; }",
                1,
                21,
                "'b' is not a qubit argument",
            ),
            (
                "gate g a { U(0,0,0) a; }\ngate g a { U(0,0,0) a; }",
                2,
                6,
                "already defined",
            ),
            (
                "qreg q[1]; creg c[1];\nmeasure c[0] -> q[0];",
                2,
                9,
                "not a quantum register",
            ),
            ("qreg q[2]; creg c[1];\nmeasure q -> c;", 2, 14, "size"),
            ("qreg q[1];\nU(0,0,0) q[0]", 2, 14, "expected ';'"),
            ("gate g a { U(0,0,0) a;", 1, 23, "missing its '}'"),
            ("qreg q[1]; $", 1, 12, "unexpected character '$'"),
            (
                "include \"qelib1.inc\";\nqreg h[1];",
                2,
                6,
                "'h' is already defined as a gate",
            ),
            (
                "qreg g[1];\ngate g a { U(0,0,0) a; }",
                2,
                6,
                "already declared as a register",
            ),
            ("qreg gate[1];", 1, 6, "reserved word"),
            ("qreg q[99999999999999999999999];", 1, 8, "too large"),
        ];
        for &(src, line, col, msg) in cases {
            let (l, c, m) = bad(src);
            assert_eq!((l, c), (line, col), "{src}: {m}");
            assert!(m.contains(msg), "{src}: {m}");
        }
    }

    #[test]
    fn qelib1_gates_and_redefinition() {
        let c = ok(&format!(
            "{HEAD}qreg q[5];\nu0(1) q[0]; c3x q[0],q[1],q[2],q[3]; c4x q[4],q[3],q[2],q[1],q[0]; rc3x q[0],q[1],q[2],q[3]; c3sqrtx q[0],q[1],q[2],q[3];"
        ));
        assert!(matches!(
            c.instructions()[0],
            Instruction::Gate {
                kind: GateKind::Id,
                ..
            }
        ));
        assert!(names(&c).len() > 10);
        ok(&format!(
            "{HEAD}gate rzz(t) a, b {{ cx a, b; u1(t) b; cx a, b; }}\nqreg q[2]; rzz(1) q[0], q[1];"
        ));
        assert!(
            bad(&format!("{HEAD}gate h a {{ }}"))
                .2
                .contains("already defined")
        );
        ok("OPENQASM 2;;; qreg q[2,]; ".replace("[2,]", "[2]").as_str());
        ok(&format!(
            "{HEAD}qreg q[2]; cx q[0], q[1],; u3(1,2,3,) q[0];"
        ));
    }

    #[test]
    fn exponential_expansion_is_bounded() {
        let mut src = format!("{HEAD}gate g0 a {{ x a; x a; }}\n");
        for i in 1..40 {
            src += &format!("gate g{i} a {{ g{} a; g{} a; }}\n", i - 1, i - 1);
        }
        src += "qreg q[1]; g39 q[0];";
        assert!(bad(&src).2.contains("more than"));
    }

    #[test]
    fn wide_barriers_are_charged_per_qubit() {
        // 2^19 qubits a barrier: a short program that would hold gigabytes.
        let src = format!("{HEAD}qreg q[524288];\n{}", "barrier q;\n".repeat(20));
        assert!(bad(&src).2.contains("more than"));
        let mut body = format!("{HEAD}gate b a, c {{ barrier a, c; }}\nqreg q[2];\n");
        body += &"b q[0], q[1];\n".repeat(10);
        assert_eq!(ok(&body).instructions().len(), 10);
    }

    #[test]
    fn long_inputs_are_bounded() {
        let long = format!("{HEAD}qreg q[1]; rz({}1) q[0];", "1+".repeat(100_000));
        assert!(bad(&long).2.contains("operators"));
        ok(&format!("{HEAD}qreg q[1]; rz({}1) q[0];", "1+".repeat(999)));
        let mut src = format!("{HEAD}gate g0 a {{ x a; }}\n");
        for i in 1..5000 {
            src += &format!("gate g{i} a {{ g{} a; }}\n", i - 1);
        }
        assert!(bad(&src).2.contains("nested more than"));
        assert!(
            bad("qreg q[18446744073709551615];")
                .2
                .contains("larger than")
        );
        assert!(bad("qreg q[1048576]; qreg r[1];").2.contains("larger than"));
        // Empty registers are allowed (as Qiskit does) and broadcast to nothing.
        let c = ok("qreg q[0]; qreg r[0]; creg c[0]; CX q, r; measure q -> c; barrier q;");
        assert_eq!((c.num_qubits(), c.instructions().len()), (0, 0));
    }

    #[test]
    fn random_input_never_panics() {
        let base = format!(
            "{HEAD}qreg q[3]; creg c[3];\ngate g(a) x, y {{ rz(a/2) x; cx x, y; }}\n\
             g(pi/3) q[0], q[1]; h q; measure q -> c; barrier q; reset q[2];"
        );
        let alphabet: Vec<char> = "qc[];(),{}->=+*/^.0123456789eghxpi \n\"/".chars().collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut chars: Vec<char> = base.chars().collect();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % chars.len();
                match next() % 3 {
                    0 => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                    _ => chars[at] = alphabet[(next() as usize) % alphabet.len()],
                }
            }
            let src: String = chars.into_iter().collect();
            if let Err(e) = parse(&src) {
                assert!(matches!(e, Error::Qasm { .. }), "{src}: {e:?}");
            }
        }
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let src = String::from_utf8_lossy(&bytes);
            if let Err(e) = parse(&src) {
                assert!(matches!(e, Error::Qasm { .. }), "{e:?}");
            }
        }
    }
}
