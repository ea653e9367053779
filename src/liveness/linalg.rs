//! The little linear algebra the liveness geometry needs, by hand: a cyclic Jacobi
//! eigen-decomposition of a small symmetric matrix (for the DLT's null vector) and a Gaussian
//! elimination solve with partial pivoting (for the Levenberg–Marquardt steps). f64 throughout.
#![allow(clippy::needless_range_loop)] // index loops read like the matrix algebra they are

/// Eigen-decomposition of the symmetric `a`: returns (eigenvalues, eigenvectors as columns
/// of `v`), unsorted. Cyclic Jacobi rotations until the off-diagonal mass is negligible.
pub fn jacobi_eigen<const N: usize>(mut a: [[f64; N]; N]) -> ([f64; N], [[f64; N]; N]) {
    let mut v = [[0.0; N]; N];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    let total: f64 = a.iter().flatten().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..N)
            .flat_map(|i| (0..N).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off <= 1e-30 * total.max(1e-300) || off.is_nan() {
            break;
        }
        for p in 0..N {
            for q in (p + 1)..N {
                let apq = a[p][q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ A J, rotating rows/columns p and q.
                for k in 0..N {
                    let akp = a[k][p];
                    let akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..N {
                    let apk = a[p][k];
                    let aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let vkp = row[p];
                    let vkq = row[q];
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut w = [0.0; N];
    for (i, wi) in w.iter_mut().enumerate() {
        *wi = a[i][i];
    }
    (w, v)
}

/// The unit eigenvector of the smallest eigenvalue of the symmetric `a`, and that eigenvalue.
pub fn smallest_eigenvector<const N: usize>(a: [[f64; N]; N]) -> ([f64; N], f64) {
    let (w, v) = jacobi_eigen(a);
    let mut k = 0;
    for i in 1..N {
        if w[i] < w[k] {
            k = i;
        }
    }
    let mut x = [0.0; N];
    for i in 0..N {
        x[i] = v[i][k];
    }
    (x, w[k])
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` when singular.
pub fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    let scale = a.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    if scale <= 0.0 || !scale.is_finite() {
        return None;
    }
    for col in 0..N {
        let mut piv = col;
        for r in (col + 1)..N {
            if a[r][col].abs() > a[piv][col].abs() {
                piv = r;
            }
        }
        if a[piv][col].abs() <= 1e-13 * scale {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for r in (col + 1)..N {
            let f = a[r][col] / a[col][col];
            if f != 0.0 {
                for k in col..N {
                    a[r][k] -= f * a[col][k];
                }
                b[r] -= f * b[col];
            }
        }
    }
    let mut x = [0.0; N];
    for i in (0..N).rev() {
        let mut s = b[i];
        for k in (i + 1)..N {
            s -= a[i][k] * x[k];
        }
        x[i] = s / a[i][i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_reconstructs_a_symmetric_matrix() {
        let a = [
            [4.0, 1.0, -2.0, 0.5],
            [1.0, 3.0, 0.0, 1.5],
            [-2.0, 0.0, 5.0, -1.0],
            [0.5, 1.5, -1.0, 2.0],
        ];
        let (w, v) = jacobi_eigen(a);
        for i in 0..4 {
            for j in 0..4 {
                let r: f64 = (0..4).map(|k| v[i][k] * w[k] * v[j][k]).sum();
                assert!((r - a[i][j]).abs() < 1e-10, "{i},{j}: {r} vs {}", a[i][j]);
                let o: f64 = (0..4).map(|k| v[k][i] * v[k][j]).sum();
                assert!((o - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn smallest_eigenvector_finds_the_null_space() {
        // Rank-2 3×3 matrix with null vector (1, -2, 1)/√6.
        let rows = [[1.0, 1.0, 1.0], [2.0, 1.0, 0.0]];
        let mut a = [[0.0; 3]; 3];
        for r in rows {
            for i in 0..3 {
                for j in 0..3 {
                    a[i][j] += r[i] * r[j];
                }
            }
        }
        let (x, w) = smallest_eigenvector(a);
        assert!(w.abs() < 1e-12);
        let s = 6f64.sqrt();
        let d = (x[0] - 1.0 / s).abs() + (x[1] + 2.0 / s).abs() + (x[2] - 1.0 / s).abs();
        let d2 = (x[0] + 1.0 / s).abs() + (x[1] - 2.0 / s).abs() + (x[2] + 1.0 / s).abs();
        assert!(d.min(d2) < 1e-9, "{x:?}");
    }

    #[test]
    fn solve_works_and_rejects_singular() {
        let a = [[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]];
        let x = solve(a, [3.0, 5.0, 5.0]).unwrap();
        for (xi, e) in x.iter().zip([1.0, 1.0, 1.0]) {
            assert!((xi - e).abs() < 1e-12);
        }
        assert!(solve([[1.0, 2.0], [2.0, 4.0]], [1.0, 2.0]).is_none());
        assert!(solve([[f64::NAN, 0.0], [0.0, 1.0]], [1.0, 2.0]).is_none());
    }
}
