//! Temporal smoothing: a moving average of the class scores over the last N frames, a
//! label that changes only when another class wins by a margin, and alerts with
//! hysteresis (raised at `P`, cleared below `P - hysteresis`), so one noisy frame neither
//! raises nor clears an alert.

/// Moving average over the last `n` score vectors, with a sticky label.
#[derive(Debug, Clone)]
pub struct Smoother {
    n: usize,
    k: usize,
    ring: Vec<f32>,
    filled: usize,
    next: usize,
    sum: Vec<f32>,
    avg: Vec<f32>,
    label: Option<usize>,
    margin: f32,
}

impl Smoother {
    /// Average over `n` frames (1 = no smoothing) of `classes` scores; the label switches
    /// when another class leads the current one by more than `margin`.
    pub fn new(n: usize, classes: usize, margin: f32) -> Smoother {
        let n = n.max(1);
        Smoother {
            n,
            k: classes,
            ring: vec![0.0; n * classes],
            filled: 0,
            next: 0,
            sum: vec![0.0; classes],
            avg: vec![0.0; classes],
            label: None,
            margin: margin.max(0.0),
        }
    }

    /// Add one frame's scores; returns the averaged scores.
    pub fn push(&mut self, scores: &[f32]) -> &[f32] {
        let k = self.k;
        let slot = &mut self.ring[self.next * k..(self.next + 1) * k];
        for ((s, old), &new) in self.sum.iter_mut().zip(slot.iter_mut()).zip(scores) {
            *s += new - *old;
            *old = new;
        }
        self.next = (self.next + 1) % self.n;
        self.filled = (self.filled + 1).min(self.n);
        // Recompute exactly now and then so float drift can't accumulate over long runs.
        if self.next == 0 {
            self.sum.iter_mut().for_each(|s| *s = 0.0);
            for f in 0..self.filled {
                for (s, v) in self.sum.iter_mut().zip(&self.ring[f * k..(f + 1) * k]) {
                    *s += v;
                }
            }
        }
        let d = self.filled as f32;
        for (a, s) in self.avg.iter_mut().zip(&self.sum) {
            *a = s / d;
        }
        let best = argmax(&self.avg);
        self.label = match self.label {
            Some(cur) if self.avg[best] <= self.avg[cur] + self.margin => Some(cur),
            _ => Some(best),
        };
        &self.avg
    }

    /// The averaged scores after the last push.
    pub fn scores(&self) -> &[f32] {
        &self.avg
    }

    /// The current (sticky) label.
    pub fn label(&self) -> usize {
        self.label.unwrap_or(0)
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// `--alert CLASS>=P`: raise an alert when the smoothed score of `class` reaches `threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Class index.
    pub class: usize,
    /// Class name as the model labels it.
    pub name: String,
    /// Raise at this smoothed score.
    pub threshold: f32,
}

impl AlertRule {
    /// Parse `CLASS>=P` (CLASS: a label of the model or a class index; P in 0..=1).
    pub fn parse(s: &str, labels: &[String]) -> Result<AlertRule, String> {
        let (c, p) = s
            .split_once(">=")
            .ok_or_else(|| format!("--alert {s:?}: use CLASS>=P, e.g. damaged>=0.8"))?;
        let c = c.trim();
        let threshold: f32 = p
            .trim()
            .parse()
            .ok()
            .filter(|p: &f32| (0.0..=1.0).contains(p))
            .ok_or_else(|| format!("--alert {s:?}: the threshold must be a number between 0 and 1"))?;
        let class = match labels.iter().position(|l| l == c) {
            Some(i) => i,
            None => match c.parse::<usize>() {
                Ok(i) if i < labels.len() => i,
                _ => {
                    let mut known: Vec<&str> = labels.iter().take(12).map(String::as_str).collect();
                    if labels.len() > 12 {
                        known.push("...");
                    }
                    return Err(format!("--alert {s:?}: the model has no class {c:?} (classes: {})", known.join(", ")));
                }
            },
        };
        Ok(AlertRule { class, name: labels[class].clone(), threshold })
    }
}

/// One rule's on/off state with hysteresis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertState {
    /// Raised now.
    pub active: bool,
}

impl AlertState {
    /// Update with a smoothed score; returns `Some(true)` when the alert is raised,
    /// `Some(false)` when it clears, `None` when nothing changed.
    pub fn update(&mut self, score: f32, threshold: f32, hysteresis: f32) -> Option<bool> {
        if !self.active && score >= threshold {
            self.active = true;
            Some(true)
        } else if self.active && score < threshold - hysteresis {
            self.active = false;
            Some(false)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_and_sticky_label() {
        let mut s = Smoother::new(3, 2, 0.1);
        assert_eq!(s.push(&[1.0, 0.0]), &[1.0, 0.0]);
        assert_eq!(s.label(), 0);
        s.push(&[0.0, 1.0]);
        assert_eq!(s.scores(), &[0.5, 0.5]);
        assert_eq!(s.label(), 0, "a tie keeps the label");
        s.push(&[0.0, 1.0]);
        assert!((s.scores()[1] - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(s.label(), 1, "a clear lead switches it");
        for _ in 0..1000 {
            s.push(&[0.25, 0.75]);
        }
        assert!((s.scores()[0] - 0.25).abs() < 1e-6, "old frames leave the window");
    }

    #[test]
    fn one_noisy_frame_does_not_raise_an_alert() {
        let mut s = Smoother::new(5, 2, 0.0);
        let mut a = AlertState::default();
        let mut raised = 0;
        for i in 0..20 {
            let spike = if i == 7 { 1.0 } else { 0.1 };
            let v = s.push(&[1.0 - spike, spike])[1];
            if a.update(v, 0.8, 0.1) == Some(true) {
                raised += 1;
            }
        }
        assert_eq!(raised, 0);
        for _ in 0..5 {
            let v = s.push(&[0.0, 1.0])[1];
            a.update(v, 0.8, 0.1);
        }
        assert!(a.active);
        assert_eq!(a.update(0.75, 0.8, 0.1), None, "inside the hysteresis band");
        assert_eq!(a.update(0.69, 0.8, 0.1), Some(false));
    }

    #[test]
    fn parses_alert_rules() {
        let labels: Vec<String> = ["ok", "damaged"].iter().map(|s| s.to_string()).collect();
        assert_eq!(AlertRule::parse("damaged>=0.8", &labels).unwrap().class, 1);
        assert_eq!(AlertRule::parse("0>=0.5", &labels).unwrap().name, "ok");
        assert!(AlertRule::parse("rust>=0.5", &labels).unwrap_err().contains("classes: ok, damaged"));
        assert!(AlertRule::parse("damaged>1.5", &labels).is_err());
        assert!(AlertRule::parse("damaged>=2", &labels).is_err());
    }
}
