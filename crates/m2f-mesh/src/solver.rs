//! Vertices → rig weights: bounded least squares, each weight in [0, 1].
//!
//! The rig is linear, so fitting weights to a frame is the box-constrained quadratic program
//! min ½‖D w − (v − n)‖² with 0 ≤ w ≤ 1. The Gram matrix DᵀD is small (K × K) and fixed, so it
//! is built once; each frame then costs one K·3V product plus a K × K solve. Projected
//! coordinate descent finds the active bounds, and an exact solve on the free weights
//! polishes the answer to machine precision.

use crate::error::{MeshError, Result};
use crate::rig::Rig;

/// Fits rig weights to vertex positions. Build once per rig, reuse for every frame.
#[derive(Debug, Clone)]
pub struct RigSolver {
    neutral: Vec<[f32; 3]>,
    /// [K][3V] flattened blendshape deltas.
    deltas: Vec<Vec<f64>>,
    /// DᵀD + ridge·I, [K][K].
    gram: Vec<Vec<f64>>,
    names: Vec<String>,
}

/// Coordinate-descent sweeps before the active-set method takes over.
const WARM_SWEEPS: usize = 8;
/// Each round releases one bound weight; K rounds nearly always suffice.
const MAX_ACTIVE_SET_ROUNDS: usize = 200;

impl RigSolver {
    /// Precomputes the Gram matrix. `ridge` (≥ 0, in m²) damps weights that the geometry
    /// cannot tell apart; 0 gives the exact least-squares fit.
    pub fn new(rig: &Rig, ridge: f64) -> Result<Self> {
        if !(ridge >= 0.0 && ridge.is_finite()) {
            return Err(MeshError::invalid(
                "solver ridge",
                format!("expected a finite value ≥ 0, got {ridge}"),
            ));
        }
        let deltas: Vec<Vec<f64>> = rig
            .deltas()
            .iter()
            .map(|d| d.iter().flatten().map(|&c| c as f64).collect())
            .collect();
        let k = deltas.len();
        let mut gram = vec![vec![0.0; k]; k];
        for i in 0..k {
            for j in i..k {
                let g: f64 = deltas[i].iter().zip(&deltas[j]).map(|(a, b)| a * b).sum();
                gram[i][j] = g;
                gram[j][i] = g;
            }
            gram[i][i] += ridge;
            if gram[i][i] <= 0.0 {
                return Err(MeshError::invalid(
                    format!("blendshape {}", rig.names()[i]),
                    "has no displacement; the solver cannot fit it",
                ));
            }
        }
        Ok(Self {
            neutral: rig.neutral().vertices.clone(),
            deltas,
            gram,
            names: rig.names().to_vec(),
        })
    }

    /// The blendshape names of the weights [`RigSolver`] returns, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Weights `[K]` in [0, 1] whose rig geometry is nearest to `vertices` `[V][3]`.
    pub fn solve(&self, vertices: &[[f32; 3]]) -> Result<Vec<f32>> {
        if vertices.len() != self.neutral.len() {
            return Err(MeshError::VertexCount {
                what: "vertices to solve for rig weights".into(),
                expected: self.neutral.len(),
                got: vertices.len(),
            });
        }
        if vertices.iter().flatten().any(|c| !c.is_finite()) {
            return Err(MeshError::invalid(
                "vertices to solve for rig weights",
                "coordinates must be finite",
            ));
        }
        let residual: Vec<f64> = vertices
            .iter()
            .zip(&self.neutral)
            .flat_map(|(v, n)| (0..3).map(move |c| (v[c] - n[c]) as f64))
            .collect();
        let b: Vec<f64> = self
            .deltas
            .iter()
            .map(|d| d.iter().zip(&residual).map(|(a, r)| a * r).sum())
            .collect();
        // Gradients below this are f32 rounding of the input, not a reason to move a weight.
        let r_norm = residual.iter().map(|r| r * r).sum::<f64>().sqrt();
        let slack: Vec<f64> = (0..self.gram.len())
            .map(|i| 1e-6 * self.gram[i][i].sqrt() * (r_norm + 1e-9))
            .collect();
        Ok(self
            .solve_normal(&b, &slack)
            .into_iter()
            .map(|w| w as f32)
            .collect())
    }

    /// min ½ wᵀ G w − bᵀ w over the box [0, 1]^K: a few projected coordinate-descent sweeps
    /// for a warm start, then the bounded-variable active-set method (Stark & Parker's
    /// BVLS), which ends in finitely many steps at the exact optimum.
    fn solve_normal(&self, b: &[f64], slack: &[f64]) -> Vec<f64> {
        let g = &self.gram;
        let k = b.len();
        let mut w = vec![0.0f64; k];
        let mut grad: Vec<f64> = b.iter().map(|x| -x).collect();
        for _ in 0..WARM_SWEEPS {
            for i in 0..k {
                let new = (w[i] - grad[i] / g[i][i]).clamp(0.0, 1.0);
                let step = new - w[i];
                if step != 0.0 {
                    for j in 0..k {
                        grad[j] += g[j][i] * step;
                    }
                    w[i] = new;
                }
            }
        }
        let mut free: Vec<bool> = w.iter().map(|&x| x > 0.0 && x < 1.0).collect();
        for _ in 0..MAX_ACTIVE_SET_ROUNDS {
            // Make the free weights optimal for the current bound set, stepping back to the
            // box whenever the unconstrained optimum leaves it.
            for _ in 0..=k {
                let idx: Vec<usize> = (0..k).filter(|&i| free[i]).collect();
                if idx.is_empty() {
                    break;
                }
                let Some(z) = self.solve_free(b, &w, &idx) else {
                    return w;
                };
                let mut alpha = 1.0f64;
                let mut blocking: Option<(usize, f64)> = None;
                for (r, &i) in idx.iter().enumerate() {
                    let d = z[r] - w[i];
                    let (limit, bound) = if d < 0.0 {
                        (-w[i] / d, 0.0)
                    } else if d > 0.0 {
                        ((1.0 - w[i]) / d, 1.0)
                    } else {
                        (f64::INFINITY, 0.0)
                    };
                    if limit < alpha {
                        alpha = limit;
                        blocking = Some((i, bound));
                    }
                }
                for (r, &i) in idx.iter().enumerate() {
                    w[i] = (w[i] + alpha * (z[r] - w[i])).clamp(0.0, 1.0);
                }
                match blocking {
                    None => break,
                    Some((i, bound)) => {
                        w[i] = bound;
                        free[i] = false;
                    }
                }
            }
            // Release the bound weight whose gradient most wants to move it into the box.
            let mut worst: Option<(usize, f64)> = None;
            for i in (0..k).filter(|&i| !free[i]) {
                let gi: f64 = (0..k).map(|j| g[i][j] * w[j]).sum::<f64>() - b[i];
                let violation = if w[i] <= 0.0 { -gi } else { gi };
                if violation > slack[i] && worst.is_none_or(|(_, v)| violation > v) {
                    worst = Some((i, violation));
                }
            }
            match worst {
                Some((i, _)) => free[i] = true,
                None => break,
            }
        }
        w
    }

    /// Unconstrained optimum of the weights `idx` with every other weight held at `w`.
    fn solve_free(&self, b: &[f64], w: &[f64], idx: &[usize]) -> Option<Vec<f64>> {
        let g = &self.gram;
        let n = idx.len();
        let mut a = vec![vec![0.0; n]; n];
        let mut rhs = vec![0.0; n];
        for (r, &i) in idx.iter().enumerate() {
            rhs[r] = b[i]
                - (0..w.len())
                    .filter(|j| !idx.contains(j))
                    .map(|j| g[i][j] * w[j])
                    .sum::<f64>();
            for (c, &j) in idx.iter().enumerate() {
                a[r][c] = g[i][j];
            }
        }
        cholesky_solve(a, rhs)
    }
}

/// Solves A x = b for symmetric positive definite A; None if A is not.
fn cholesky_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    // Factor in place: the lower triangle of `a` becomes L with A = L Lᵀ.
    for j in 0..n {
        let d = a[j][j] - dot(&a[j][..j], &a[j][..j]);
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        a[j][j] = d.sqrt();
        let (upper, lower) = a.split_at_mut(j + 1);
        let row_j = &upper[j];
        for row_i in lower.iter_mut() {
            let s = row_i[j] - dot(&row_i[..j], &row_j[..j]);
            row_i[j] = s / row_j[j];
        }
    }
    // Forward substitution L y = b, then back substitution Lᵀ x = y.
    for i in 0..n {
        b[i] = (b[i] - dot(&a[i][..i], &b[..i])) / a[i][i];
    }
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| a[k][i] * b[k]).sum();
        b[i] = (b[i] - s) / a[i][i];
    }
    Some(b)
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}
