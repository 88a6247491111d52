//! The evaluation as Markdown tables.

use crate::evaluate::EvalReport;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".to_string(), |v| format!("{v:.digits$}"))
}

impl EvalReport {
    /// Two tables: the mouth (LVE, inner-lip gap, closure, opening) and the rest (upper
    /// face, head, diversity, prompts), one row per candidate and speech subset.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        s.push_str(
            "| model | speech | clips | LVE (mm) | LVE² (mm²) | lip gap error (mm) | lip gap correlation | bilabial closure | open-vowel opening |\n",
        );
        s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.3} | {:.2} | {:.2} |\n",
                r.candidate,
                r.speech,
                r.clips,
                r.lve_mm,
                r.lve_squared_mm2,
                r.lip_gap_error_mm,
                r.lip_gap_correlation,
                r.bilabial_closure,
                r.open_vowel_opening
            ));
        }
        s.push('\n');
        s.push_str(
            "| model | speech | FDD (mm², true − generated) | beat alignment | diversity (mm) | lip spread (mm) | LVE of the seed mean (mm) | prompt following |\n",
        );
        s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {:+.3} | {} | {} | {} | {} | {} |\n",
                r.candidate,
                r.speech,
                r.fdd_mm2,
                opt(r.beat_alignment, 3),
                opt(r.diversity_mm, 2),
                opt(r.lip_spread_mm, 2),
                opt(r.seed_mean_lve_mm, 2),
                opt(r.prompt_following, 2),
            ));
        }
        s.push_str(&format!(
            "\n{} clips; {} seeds per clip for diversity; prompt following over the 8 emotions at {} intensity on the first {} clips; the emotion classifier names {:.0} % of the clips' true emotions from their true latents; beat alignment at chance (true head motion against another clip's audio): {}.\n",
            self.clips,
            self.options.seeds,
            format!("{:?}", self.options.prompt_intensity).to_lowercase(),
            self.options.prompt_clips.min(self.clips),
            100.0 * self.classifier_accuracy,
            opt(self.beat_alignment_chance, 3),
        ));
        s
    }
}
