//! The standard gate set, with Qiskit's exact matrix definitions and phases.
//!
//! Every gate is described as `controls + base`: the first `num_controls`
//! qubits are controls (Qiskit puts controls first in argument order) and the
//! base matrix acts on the remaining qubits, little endian (the first base
//! qubit is the least significant bit of the matrix index). Describing
//! controlled gates this way lets the kernels skip the control subspace
//! entirely instead of multiplying by a mostly-identity matrix.

use crate::circuit::matrix::Matrix;
use crate::error::{Error, Result};
use num_complex::Complex64 as C64;
use std::f64::consts::FRAC_1_SQRT_2;

macro_rules! gate_kinds {
    ($( $variant:ident => $name:literal, qubits: $nq:expr, params: $np:literal, controls: $nc:expr; )*) => {
        /// A named gate of the standard set.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum GateKind { $( $variant, )* }

        impl GateKind {
            /// All gate kinds, in documentation order.
            pub const ALL: &'static [GateKind] = &[ $( GateKind::$variant, )* ];

            /// The Qiskit name of the gate.
            pub fn name(self) -> &'static str {
                match self { $( GateKind::$variant => $name, )* }
            }

            /// Number of qubits, `None` where it varies (mcx).
            pub fn num_qubits(self) -> Option<usize> {
                match self { $( GateKind::$variant => $nq, )* }
            }

            /// Number of real parameters.
            pub fn num_params(self) -> usize {
                match self { $( GateKind::$variant => $np, )* }
            }

            /// Number of leading control qubits given the total qubit count.
            pub fn num_controls(self, num_qubits: usize) -> usize {
                let f: fn(usize) -> usize = match self { $( GateKind::$variant => $nc, )* };
                f(num_qubits)
            }

            /// Looks a gate up by its Qiskit name.
            pub fn from_name(name: &str) -> Result<GateKind> {
                match name {
                    $( $name => Ok(GateKind::$variant), )*
                    "toffoli" => Ok(GateKind::Ccx),
                    "fredkin" => Ok(GateKind::Cswap),
                    "cnot" => Ok(GateKind::Cx),
                    "i" => Ok(GateKind::Id),
                    _ => Err(Error::UnknownGate(name.to_string())),
                }
            }
        }
    };
}

gate_kinds! {
    Id => "id", qubits: Some(1), params: 0, controls: |_| 0;
    X => "x", qubits: Some(1), params: 0, controls: |_| 0;
    Y => "y", qubits: Some(1), params: 0, controls: |_| 0;
    Z => "z", qubits: Some(1), params: 0, controls: |_| 0;
    H => "h", qubits: Some(1), params: 0, controls: |_| 0;
    S => "s", qubits: Some(1), params: 0, controls: |_| 0;
    Sdg => "sdg", qubits: Some(1), params: 0, controls: |_| 0;
    T => "t", qubits: Some(1), params: 0, controls: |_| 0;
    Tdg => "tdg", qubits: Some(1), params: 0, controls: |_| 0;
    Sx => "sx", qubits: Some(1), params: 0, controls: |_| 0;
    Sxdg => "sxdg", qubits: Some(1), params: 0, controls: |_| 0;
    P => "p", qubits: Some(1), params: 1, controls: |_| 0;
    R => "r", qubits: Some(1), params: 2, controls: |_| 0;
    Rx => "rx", qubits: Some(1), params: 1, controls: |_| 0;
    Ry => "ry", qubits: Some(1), params: 1, controls: |_| 0;
    Rz => "rz", qubits: Some(1), params: 1, controls: |_| 0;
    U => "u", qubits: Some(1), params: 3, controls: |_| 0;
    U1 => "u1", qubits: Some(1), params: 1, controls: |_| 0;
    U2 => "u2", qubits: Some(1), params: 2, controls: |_| 0;
    U3 => "u3", qubits: Some(1), params: 3, controls: |_| 0;
    Cx => "cx", qubits: Some(2), params: 0, controls: |_| 1;
    Cy => "cy", qubits: Some(2), params: 0, controls: |_| 1;
    Cz => "cz", qubits: Some(2), params: 0, controls: |_| 1;
    Ch => "ch", qubits: Some(2), params: 0, controls: |_| 1;
    Cs => "cs", qubits: Some(2), params: 0, controls: |_| 1;
    Csdg => "csdg", qubits: Some(2), params: 0, controls: |_| 1;
    Csx => "csx", qubits: Some(2), params: 0, controls: |_| 1;
    Cp => "cp", qubits: Some(2), params: 1, controls: |_| 1;
    Crx => "crx", qubits: Some(2), params: 1, controls: |_| 1;
    Cry => "cry", qubits: Some(2), params: 1, controls: |_| 1;
    Crz => "crz", qubits: Some(2), params: 1, controls: |_| 1;
    Cu => "cu", qubits: Some(2), params: 4, controls: |_| 1;
    Cu1 => "cu1", qubits: Some(2), params: 1, controls: |_| 1;
    Cu3 => "cu3", qubits: Some(2), params: 3, controls: |_| 1;
    Swap => "swap", qubits: Some(2), params: 0, controls: |_| 0;
    Iswap => "iswap", qubits: Some(2), params: 0, controls: |_| 0;
    Dcx => "dcx", qubits: Some(2), params: 0, controls: |_| 0;
    Ecr => "ecr", qubits: Some(2), params: 0, controls: |_| 0;
    Rxx => "rxx", qubits: Some(2), params: 1, controls: |_| 0;
    Ryy => "ryy", qubits: Some(2), params: 1, controls: |_| 0;
    Rzz => "rzz", qubits: Some(2), params: 1, controls: |_| 0;
    Rzx => "rzx", qubits: Some(2), params: 1, controls: |_| 0;
    XxPlusYy => "xx_plus_yy", qubits: Some(2), params: 2, controls: |_| 0;
    XxMinusYy => "xx_minus_yy", qubits: Some(2), params: 2, controls: |_| 0;
    Ccx => "ccx", qubits: Some(3), params: 0, controls: |_| 2;
    Ccz => "ccz", qubits: Some(3), params: 0, controls: |_| 2;
    Cswap => "cswap", qubits: Some(3), params: 0, controls: |_| 1;
    Rccx => "rccx", qubits: Some(3), params: 0, controls: |_| 0;
    Mcx => "mcx", qubits: None, params: 0, controls: |n| n.saturating_sub(1);
}

fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

/// e^{i phi}
fn cis(phi: f64) -> C64 {
    C64::from_polar(1.0, phi)
}

const ZERO: C64 = C64 { re: 0.0, im: 0.0 };
const ONE: C64 = C64 { re: 1.0, im: 0.0 };
const I: C64 = C64 { re: 0.0, im: 1.0 };

/// Qiskit's U(theta, phi, lambda).
fn u_matrix(theta: f64, phi: f64, lam: f64) -> [C64; 4] {
    let (s, co) = (theta / 2.0).sin_cos();
    // e^{i(phi + lam)} as a product: the sum of two huge finite angles can
    // overflow to infinity (a NaN matrix), each factor cannot.
    [
        c(co, 0.0),
        -cis(lam) * s,
        cis(phi) * s,
        cis(phi) * cis(lam) * co,
    ]
}

fn m2(m: [C64; 4]) -> Matrix {
    Matrix::from_rows(2, m.to_vec())
}

fn diag(d: &[C64]) -> Matrix {
    let dim = d.len();
    let mut data = vec![ZERO; dim * dim];
    for (i, &v) in d.iter().enumerate() {
        data[i * dim + i] = v;
    }
    Matrix::from_rows(dim, data)
}

impl GateKind {
    /// The matrix acting on the non-control qubits, little endian.
    /// `params` must already have the right length (checked by the circuit).
    pub fn base_matrix(self, params: &[f64]) -> Matrix {
        use GateKind::*;
        let p = |i: usize| params[i];
        let h = FRAC_1_SQRT_2;
        match self {
            Id => diag(&[ONE, ONE]),
            X | Cx | Ccx | Mcx => m2([ZERO, ONE, ONE, ZERO]),
            Y | Cy => m2([ZERO, -I, I, ZERO]),
            Z | Cz | Ccz => diag(&[ONE, -ONE]),
            H | Ch => m2([c(h, 0.0), c(h, 0.0), c(h, 0.0), c(-h, 0.0)]),
            S | Cs => diag(&[ONE, I]),
            Sdg | Csdg => diag(&[ONE, -I]),
            T => diag(&[ONE, cis(std::f64::consts::FRAC_PI_4)]),
            Tdg => diag(&[ONE, cis(-std::f64::consts::FRAC_PI_4)]),
            Sx | Csx => m2([c(0.5, 0.5), c(0.5, -0.5), c(0.5, -0.5), c(0.5, 0.5)]),
            Sxdg => m2([c(0.5, -0.5), c(0.5, 0.5), c(0.5, 0.5), c(0.5, -0.5)]),
            P | U1 | Cp | Cu1 => diag(&[ONE, cis(p(0))]),
            R => {
                let (s, co) = (p(0) / 2.0).sin_cos();
                m2([
                    c(co, 0.0),
                    -I * cis(-p(1)) * s,
                    -I * cis(p(1)) * s,
                    c(co, 0.0),
                ])
            }
            Rx | Crx => {
                let (s, co) = (p(0) / 2.0).sin_cos();
                m2([c(co, 0.0), c(0.0, -s), c(0.0, -s), c(co, 0.0)])
            }
            Ry | Cry => {
                let (s, co) = (p(0) / 2.0).sin_cos();
                m2([c(co, 0.0), c(-s, 0.0), c(s, 0.0), c(co, 0.0)])
            }
            Rz | Crz => diag(&[cis(-p(0) / 2.0), cis(p(0) / 2.0)]),
            U | U3 | Cu3 => m2(u_matrix(p(0), p(1), p(2))),
            U2 => m2(u_matrix(std::f64::consts::FRAC_PI_2, p(0), p(1))),
            Cu => {
                let g = cis(p(3));
                m2(u_matrix(p(0), p(1), p(2)).map(|v| v * g))
            }
            Swap | Cswap => permutation_matrix(&[0, 2, 1, 3], &[ONE; 4]),
            Iswap => permutation_matrix(&[0, 2, 1, 3], &[ONE, I, I, ONE]),
            // DCX = CX(0,1) then CX(1,0): |1> -> |2>, |2> -> |3>, |3> -> |1>.
            Dcx => permutation_matrix(&[0, 2, 3, 1], &[ONE; 4]),
            Ecr => {
                let a = h;
                Matrix::from_rows(
                    4,
                    vec![
                        ZERO,
                        c(a, 0.0),
                        ZERO,
                        c(0.0, a), //
                        c(a, 0.0),
                        ZERO,
                        c(0.0, -a),
                        ZERO, //
                        ZERO,
                        c(0.0, a),
                        ZERO,
                        c(a, 0.0), //
                        c(0.0, -a),
                        ZERO,
                        c(a, 0.0),
                        ZERO,
                    ],
                )
            }
            Rxx => {
                let (s, co) = (p(0) / 2.0).sin_cos();
                let (cc, ms) = (c(co, 0.0), c(0.0, -s));
                Matrix::from_rows(
                    4,
                    vec![
                        cc, ZERO, ZERO, ms, //
                        ZERO, cc, ms, ZERO, //
                        ZERO, ms, cc, ZERO, //
                        ms, ZERO, ZERO, cc,
                    ],
                )
            }
            Ryy => {
                let (s, co) = (p(0) / 2.0).sin_cos();
                let (cc, ms, ps) = (c(co, 0.0), c(0.0, -s), c(0.0, s));
                Matrix::from_rows(
                    4,
                    vec![
                        cc, ZERO, ZERO, ps, //
                        ZERO, cc, ms, ZERO, //
                        ZERO, ms, cc, ZERO, //
                        ps, ZERO, ZERO, cc,
                    ],
                )
            }
            Rzz => {
                let (a, b) = (cis(-p(0) / 2.0), cis(p(0) / 2.0));
                diag(&[a, b, b, a])
            }
            // exp(-i theta/2 Z_q0 X_q1): X on the second qubit, Z on the first.
            Rzx => {
                let (s, co) = (p(0) / 2.0).sin_cos();
                let (cc, ms, ps) = (c(co, 0.0), c(0.0, -s), c(0.0, s));
                Matrix::from_rows(
                    4,
                    vec![
                        cc, ZERO, ms, ZERO, //
                        ZERO, cc, ZERO, ps, //
                        ms, ZERO, cc, ZERO, //
                        ZERO, ps, ZERO, cc,
                    ],
                )
            }
            XxPlusYy => {
                let (s, co) = (p(0) / 2.0).sin_cos();
                let beta = p(1);
                let cc = c(co, 0.0);
                Matrix::from_rows(
                    4,
                    vec![
                        ONE,
                        ZERO,
                        ZERO,
                        ZERO, //
                        ZERO,
                        cc,
                        -I * s * cis(-beta),
                        ZERO, //
                        ZERO,
                        -I * s * cis(beta),
                        cc,
                        ZERO, //
                        ZERO,
                        ZERO,
                        ZERO,
                        ONE,
                    ],
                )
            }
            XxMinusYy => {
                let (s, co) = (p(0) / 2.0).sin_cos();
                let beta = p(1);
                let cc = c(co, 0.0);
                Matrix::from_rows(
                    4,
                    vec![
                        cc,
                        ZERO,
                        ZERO,
                        -I * s * cis(-beta), //
                        ZERO,
                        ONE,
                        ZERO,
                        ZERO, //
                        ZERO,
                        ZERO,
                        ONE,
                        ZERO, //
                        -I * s * cis(beta),
                        ZERO,
                        ZERO,
                        cc,
                    ],
                )
            }
            Rccx => {
                // Toffoli up to relative phases: |3> -> i|7>... as in Qiskit's RCCXGate.
                let mut perm = [0usize, 1, 2, 7, 4, 5, 6, 3];
                let mut phases = [ONE; 8];
                // column 3 (|011>) maps to row 7 with phase i; column 7 to row 3 with -i;
                // column 5 (|101>) picks up -1.
                phases[3] = I;
                phases[7] = -I;
                phases[5] = -ONE;
                perm[3] = 7;
                perm[7] = 3;
                permutation_matrix(&perm, &phases)
            }
        }
    }

    /// The full matrix on all the gate's qubits (controls first, little
    /// endian): identity on the control-off subspace. For tests and for
    /// building inverses of gates without a named inverse.
    pub fn full_matrix(self, num_qubits: usize, params: &[f64]) -> Matrix {
        let nc = self.num_controls(num_qubits);
        let base = self.base_matrix(params);
        if nc == 0 {
            return base;
        }
        let dim = 1usize << num_qubits;
        let ctrl = (1usize << nc) - 1;
        let mut data = vec![ZERO; dim * dim];
        for col in 0..dim {
            if col & ctrl != ctrl {
                data[col * dim + col] = ONE;
                continue;
            }
            let bc = col >> nc;
            for br in 0..base.dim() {
                data[((br << nc) | ctrl) * dim + col] = base.get(br, bc);
            }
        }
        Matrix::from_rows(dim, data)
    }
}

/// Matrix with `M[perm[j]][j] = phases[j]`.
fn permutation_matrix(perm: &[usize], phases: &[C64]) -> Matrix {
    let dim = perm.len();
    let mut data = vec![ZERO; dim * dim];
    for j in 0..dim {
        data[perm[j] * dim + j] = phases[j];
    }
    Matrix::from_rows(dim, data)
}
