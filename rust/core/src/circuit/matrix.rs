//! Small dense complex matrices: gate definitions, user unitaries, and the
//! structure tests that route a gate to a specialised kernel.

use num_complex::Complex64 as C64;

/// Square complex matrix, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    dim: usize,
    data: Vec<C64>,
}

/// How a matrix acts on basis states, which decides the kernel that applies it.
#[derive(Debug, Clone, PartialEq)]
pub enum Structure {
    /// Only the diagonal is non-zero.
    Diagonal(Vec<C64>),
    /// Exactly one non-zero per column: basis state `j` goes to `perm[j]`
    /// with factor `phases[j]`.
    Permutation { perm: Vec<usize>, phases: Vec<C64> },
    /// Anything else.
    Dense,
}

impl Matrix {
    /// Builds a `dim x dim` matrix from row-major data.
    ///
    /// # Panics
    /// If `data.len() != dim * dim`: callers construct the data themselves.
    pub fn from_rows(dim: usize, data: Vec<C64>) -> Matrix {
        assert_eq!(
            data.len(),
            dim * dim,
            "matrix data does not match its dimension"
        );
        Matrix { dim, data }
    }

    pub fn identity(dim: usize) -> Matrix {
        let mut data = vec![C64::new(0.0, 0.0); dim * dim];
        for i in 0..dim {
            data[i * dim + i] = C64::new(1.0, 0.0);
        }
        Matrix { dim, data }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn get(&self, row: usize, col: usize) -> C64 {
        self.data[row * self.dim + col]
    }

    pub fn data(&self) -> &[C64] {
        &self.data
    }

    /// Conjugate transpose.
    pub fn adjoint(&self) -> Matrix {
        let d = self.dim;
        let mut data = vec![C64::new(0.0, 0.0); d * d];
        for r in 0..d {
            for c in 0..d {
                data[c * d + r] = self.data[r * d + c].conj();
            }
        }
        Matrix { dim: d, data }
    }

    /// `self * other`.
    pub fn matmul(&self, other: &Matrix) -> Matrix {
        let d = self.dim;
        assert_eq!(d, other.dim);
        let mut data = vec![C64::new(0.0, 0.0); d * d];
        for r in 0..d {
            for k in 0..d {
                let a = self.data[r * d + k];
                if a == C64::new(0.0, 0.0) {
                    continue;
                }
                for c in 0..d {
                    data[r * d + c] += a * other.data[k * d + c];
                }
            }
        }
        Matrix { dim: d, data }
    }

    /// Largest entry of `|U^dagger U - I|`; zero for an exactly unitary matrix.
    pub fn unitarity_deviation(&self) -> f64 {
        let d = self.dim;
        // Row i of U^dagger U is the sum over k of conj(U[k][i]) times row k of
        // U: every pass reads rows whole, so a 1024 x 1024 matrix takes well
        // under a second instead of striding down columns for half a minute,
        // and rows of the product are spread over threads.
        let row_deviation = |i: usize| -> f64 {
            let mut acc = vec![C64::new(0.0, 0.0); d];
            for k in 0..d {
                let a = self.data[k * d + i].conj();
                if a == C64::new(0.0, 0.0) {
                    continue;
                }
                for (out, &u) in acc.iter_mut().zip(&self.data[k * d..(k + 1) * d]) {
                    *out += a * u;
                }
            }
            acc[i] -= 1.0;
            acc.iter().fold(0.0, |w: f64, z| w.max(z.norm()))
        };
        if d >= 64 {
            use rayon::prelude::*;
            (0..d)
                .into_par_iter()
                .map(row_deviation)
                .reduce(|| 0.0, f64::max)
        } else {
            (0..d).map(row_deviation).fold(0.0, f64::max)
        }
    }

    pub fn is_finite(&self) -> bool {
        self.data
            .iter()
            .all(|z| z.re.is_finite() && z.im.is_finite())
    }

    /// Classifies by exact zeros. Gate definitions build their zeros exactly,
    /// so a named diagonal gate always lands on the diagonal kernel; a user
    /// matrix with rounding noise off the diagonal is treated as dense, which
    /// is slower but never wrong.
    pub fn structure(&self) -> Structure {
        let d = self.dim;
        let zero = C64::new(0.0, 0.0);
        let mut diagonal = true;
        let mut perm = vec![usize::MAX; d];
        let mut phases = vec![zero; d];
        let mut is_perm = true;
        let mut row_used = vec![false; d];
        for c in 0..d {
            for (r, used) in row_used.iter_mut().enumerate() {
                let v = self.data[r * d + c];
                if v == zero {
                    continue;
                }
                if r != c {
                    diagonal = false;
                }
                if perm[c] != usize::MAX || *used {
                    is_perm = false;
                } else {
                    perm[c] = r;
                    phases[c] = v;
                    *used = true;
                }
            }
            if perm[c] == usize::MAX {
                is_perm = false;
            }
        }
        if diagonal {
            Structure::Diagonal((0..d).map(|i| self.data[i * d + i]).collect())
        } else if is_perm {
            Structure::Permutation { perm, phases }
        } else {
            Structure::Dense
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(re: f64, im: f64) -> C64 {
        C64::new(re, im)
    }

    #[test]
    fn structure_detects_diagonal_permutation_and_dense() {
        let z = Matrix::from_rows(2, vec![c(1., 0.), c(0., 0.), c(0., 0.), c(-1., 0.)]);
        assert!(matches!(z.structure(), Structure::Diagonal(_)));
        let y = Matrix::from_rows(2, vec![c(0., 0.), c(0., -1.), c(0., 1.), c(0., 0.)]);
        match y.structure() {
            Structure::Permutation { perm, phases } => {
                assert_eq!(perm, vec![1, 0]);
                assert_eq!(phases, vec![c(0., 1.), c(0., -1.)]);
            }
            other => panic!("expected permutation, got {other:?}"),
        }
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let hm = Matrix::from_rows(2, vec![c(h, 0.), c(h, 0.), c(h, 0.), c(-h, 0.)]);
        assert_eq!(hm.structure(), Structure::Dense);
        assert!(hm.unitarity_deviation() < 1e-15);
    }

    #[test]
    fn unitarity_deviation_flags_non_unitary() {
        let m = Matrix::from_rows(2, vec![c(1., 0.), c(1., 0.), c(0., 0.), c(1., 0.)]);
        assert!(m.unitarity_deviation() > 0.5);
        assert!(m.matmul(&m.adjoint()).unitarity_deviation() > 0.5);
    }
}
