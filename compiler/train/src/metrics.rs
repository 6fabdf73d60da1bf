//! Classification metrics: confusion matrix, accuracy, per-class precision and recall.

use serde::Serialize;

/// A confusion matrix, `m[true][predicted]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// Counts.
    pub m: Vec<Vec<usize>>,
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    /// Class name.
    pub class: String,
    /// Of the predictions of this class, the share that is right.
    pub precision: f64,
    /// Of the samples of this class, the share found.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// Samples of this class.
    pub support: usize,
}

impl Confusion {
    /// An empty matrix for `k` classes.
    pub fn new(k: usize) -> Confusion {
        Confusion { m: vec![vec![0; k]; k] }
    }

    /// Count one prediction.
    pub fn add(&mut self, truth: usize, pred: usize) {
        self.m[truth][pred] += 1;
    }

    /// Samples counted.
    pub fn total(&self) -> usize {
        self.m.iter().flatten().sum()
    }

    /// Share of correct predictions.
    pub fn accuracy(&self) -> f64 {
        let right: usize = (0..self.m.len()).map(|i| self.m[i][i]).sum();
        right as f64 / self.total().max(1) as f64
    }

    /// Per-class precision and recall.
    pub fn report(&self, classes: &[String]) -> Vec<ClassReport> {
        let k = self.m.len();
        (0..k)
            .map(|c| {
                let tp = self.m[c][c] as f64;
                let predicted: usize = (0..k).map(|t| self.m[t][c]).sum();
                let support: usize = self.m[c].iter().sum();
                let precision = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
                let recall = if support > 0 { tp / support as f64 } else { 0.0 };
                let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
                ClassReport { class: classes.get(c).cloned().unwrap_or_else(|| c.to_string()), precision, recall, f1, support }
            })
            .collect()
    }
}

/// A text table of a per-class report (as scikit-learn's `classification_report`).
pub fn report_table(r: &[ClassReport]) -> String {
    let w = r.iter().map(|c| c.class.len()).max().unwrap_or(5).max(5);
    let mut s = format!("{:<w$}  {:>9}  {:>7}  {:>7}  {:>7}\n", "class", "precision", "recall", "f1", "support");
    for c in r {
        s += &format!("{:<w$}  {:>9.4}  {:>7.4}  {:>7.4}  {:>7}\n", c.class, c.precision, c.recall, c.f1, c.support);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_recall() {
        let mut c = Confusion::new(2);
        for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1)] {
            c.add(t, p);
        }
        assert_eq!(c.accuracy(), 0.75);
        let r = c.report(&["a".into(), "b".into()]);
        assert_eq!((r[0].precision, r[0].recall), (1.0, 2.0 / 3.0));
        assert_eq!((r[1].precision, r[1].recall, r[1].support), (0.5, 1.0, 1));
        assert!(report_table(&r).contains("precision"));
    }
}
