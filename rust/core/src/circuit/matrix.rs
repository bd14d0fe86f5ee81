//! Small dense complex matrices: gate definitions, user unitaries, and the
//! structure tests that route a gate to a specialised kernel.

use num_complex::Complex64 as C64;
use std::sync::atomic::{AtomicBool, Ordering};

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
        self.unitarity_deviation_until(&AtomicBool::new(false))
            .expect("nothing sets the flag")
    }

    /// [`Matrix::unitarity_deviation`], or `None` as soon as `stop` is seen
    /// set (checked once per row of the product, so a caller on another
    /// thread can interrupt even a 2^13-dimensional check within
    /// milliseconds).
    pub fn unitarity_deviation_until(&self, stop: &AtomicBool) -> Option<f64> {
        let d = self.dim;
        // Row i of U^dagger U is the sum over k of conj(U[k][i]) times row k
        // of U. Rows are formed in blocks of ROWS: each row k of U is read
        // once per block rather than once per row, so a 2^11-dimensional
        // check streams the matrix 128 times, not 2048. The product is
        // Hermitian, so a block forms only columns from its first row on,
        // and blocks are spread over threads.
        const ROWS: usize = 16;
        let block_deviation = |block: usize| -> Option<f64> {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let first = block * ROWS;
            let rows = ROWS.min(d - first);
            let width = d - first;
            let mut acc = vec![C64::new(0.0, 0.0); rows * width];
            for k in 0..d {
                let row_k = &self.data[k * d + first..(k + 1) * d];
                for (r, out) in acc.chunks_exact_mut(width).enumerate() {
                    let a = self.data[k * d + first + r].conj();
                    if a == C64::new(0.0, 0.0) {
                        continue;
                    }
                    for (o, &u) in out.iter_mut().zip(row_k) {
                        *o += a * u;
                    }
                }
            }
            let mut worst = 0.0f64;
            for (r, out) in acc.chunks_exact_mut(width).enumerate() {
                out[r] -= 1.0;
                worst = out[r..].iter().fold(worst, |w, z| w.max(z.norm()));
            }
            Some(worst)
        };
        let worst = |a: Option<f64>, b: Option<f64>| Some(a?.max(b?));
        let blocks = d.div_ceil(ROWS);
        if d >= 64 {
            use rayon::prelude::*;
            (0..blocks)
                .into_par_iter()
                .map(block_deviation)
                .reduce(|| Some(0.0), worst)
        } else {
            (0..blocks).map(block_deviation).fold(Some(0.0), worst)
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

    /// The blocked, triangular check against the textbook one, on sizes
    /// that do and do not fill its row blocks, with the error anywhere.
    #[test]
    fn unitarity_deviation_matches_the_full_product() {
        use rand_core::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        for d in [1usize, 2, 15, 16, 17, 33, 64, 70, 128] {
            let data: Vec<C64> = (0..d * d).map(|_| c(uniform(), uniform())).collect();
            let m = Matrix::from_rows(d, data);
            let product = m.adjoint().matmul(&m);
            let mut expected = 0.0f64;
            for r in 0..d {
                for col in 0..d {
                    let eye = if r == col { 1.0 } else { 0.0 };
                    expected = expected.max((product.data[r * d + col] - eye).norm());
                }
            }
            let got = m.unitarity_deviation();
            assert!(
                (got - expected).abs() <= 1e-12 * expected.max(1.0),
                "d={d}: {got} vs {expected}"
            );
            let stop = AtomicBool::new(true);
            assert_eq!(m.unitarity_deviation_until(&stop), None, "d={d}");
        }
    }
}
