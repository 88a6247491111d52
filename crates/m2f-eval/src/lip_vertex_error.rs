//! Lip vertex error (LVE), as MeshTalk defines it: per frame, the largest distance over the
//! lip vertices between the generated and the true face; averaged over frames. The
//! evaluation script CodeTalker released (and the FaceFormer numbers it re-scores) takes the
//! squared distance instead; both are kept.

/// LVE summed over frames, to be averaged over a whole test set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LipVertexError {
    /// Frames measured.
    pub frames: usize,
    /// Σ over frames of the largest lip-vertex distance, millimetres.
    pub sum_max_mm: f64,
    /// Σ over frames of the largest squared lip-vertex distance, mm².
    pub sum_max_squared_mm2: f64,
}

impl LipVertexError {
    /// Measures one sequence: `generated` and `truth` are frames of vertices (metres, the
    /// same topology and head pose), `lips` the indices of the lip vertices. Frames past
    /// the shorter sequence are not counted.
    pub fn of_sequence<G, T>(generated: &[G], truth: &[T], lips: &[u32]) -> Self
    where
        G: AsRef<[[f32; 3]]>,
        T: AsRef<[[f32; 3]]>,
    {
        let mut out = Self::default();
        for (g, t) in generated.iter().zip(truth) {
            let (g, t) = (g.as_ref(), t.as_ref());
            let worst = lips
                .iter()
                .map(|&i| squared_distance(g[i as usize], t[i as usize]))
                .fold(0f64, f64::max);
            out.frames += 1;
            out.sum_max_squared_mm2 += worst * 1e6;
            out.sum_max_mm += worst.sqrt() * 1e3;
        }
        out
    }

    /// Adds another sequence's sums.
    pub fn add(&mut self, other: &Self) {
        self.frames += other.frames;
        self.sum_max_mm += other.sum_max_mm;
        self.sum_max_squared_mm2 += other.sum_max_squared_mm2;
    }

    /// Mean over frames of the largest lip-vertex distance, mm.
    pub fn mm(&self) -> f64 {
        self.sum_max_mm / self.frames.max(1) as f64
    }

    /// Mean over frames of the largest squared lip-vertex distance, mm² (CodeTalker's form).
    pub fn squared_mm2(&self) -> f64 {
        self.sum_max_squared_mm2 / self.frames.max(1) as f64
    }
}

/// Squared distance in m² (accumulated in f64).
pub(crate) fn squared_distance(a: [f32; 3], b: [f32; 3]) -> f64 {
    (0..3).map(|k| (a[k] as f64 - b[k] as f64).powi(2)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_lip_vertex_counts_and_other_vertices_do_not() {
        let truth = vec![vec![[0.0f32; 3]; 4]; 2];
        let mut gen = truth.clone();
        gen[0][1] = [0.003, 0.0, 0.004]; // 5 mm on a lip vertex
        gen[0][2] = [0.0, 0.001, 0.0]; // 1 mm on another
        gen[1][3] = [0.0, 0.0, 0.1]; // far, but not a lip vertex
        let lve = LipVertexError::of_sequence(&gen, &truth, &[1, 2]);
        assert_eq!(lve.frames, 2);
        assert!((lve.mm() - 2.5).abs() < 1e-6, "{}", lve.mm());
        assert!(
            (lve.squared_mm2() - 12.5).abs() < 1e-4,
            "{}",
            lve.squared_mm2()
        );
        let mut sum = lve;
        sum.add(&LipVertexError::of_sequence(&truth, &truth, &[1, 2]));
        assert!((sum.mm() - 1.25).abs() < 1e-6);
    }
}
