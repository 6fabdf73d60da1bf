//! Offline arena planning: place every runtime tensor by lifetime, greedy by size (as
//! TFLite Micro's GreedyMemoryPlanner), and the lower bound it is measured against.

/// One buffer to place: its size and the steps at which it is first written and last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buf {
    /// Bytes.
    pub size: usize,
    /// First step it is live.
    pub first: usize,
    /// Last step it is live.
    pub last: usize,
}

impl Buf {
    fn overlaps(&self, o: &Buf) -> bool {
        self.first <= o.last && o.first <= self.last
    }
}

fn align_up(x: usize, a: usize) -> usize {
    x.div_ceil(a) * a
}

/// Offsets for `bufs` (aligned to `align`) and the arena size.
pub fn plan(bufs: &[Buf], align: usize) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..bufs.len()).collect();
    order.sort_by(|&a, &b| bufs[b].size.cmp(&bufs[a].size).then(bufs[a].first.cmp(&bufs[b].first)));
    let mut offs = vec![usize::MAX; bufs.len()];
    let mut total = 0;
    for &i in &order {
        let mut placed: Vec<(usize, usize)> = order
            .iter()
            .filter(|&&j| offs[j] != usize::MAX && bufs[j].overlaps(&bufs[i]))
            .map(|&j| (offs[j], offs[j] + bufs[j].size))
            .collect();
        placed.sort();
        let mut at = 0;
        for (s, e) in placed {
            if at + bufs[i].size <= s {
                break;
            }
            at = at.max(align_up(e, align));
        }
        offs[i] = at;
        total = total.max(at + bufs[i].size);
    }
    (offs, align_up(total, align))
}

/// The largest total size of buffers live at one step: no plan can do better.
pub fn lower_bound(bufs: &[Buf]) -> usize {
    let steps = bufs.iter().map(|b| b.last).max().unwrap_or(0);
    (0..=steps).map(|s| bufs.iter().filter(|b| b.first <= s && s <= b.last).map(|b| b.size).sum()).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_reuses_memory() {
        // a -> b -> c -> d: only neighbours are live together (sizes multiples of the alignment).
        let b = |size, first, last| Buf { size, first, last };
        let bufs = [b(96, 0, 1), b(208, 1, 2), b(48, 2, 3), b(16, 3, 4)];
        let (offs, total) = plan(&bufs, 16);
        assert_eq!(total, lower_bound(&bufs));
        for i in 0..bufs.len() {
            for j in i + 1..bufs.len() {
                if bufs[i].overlaps(&bufs[j]) {
                    assert!(offs[i] + bufs[i].size <= offs[j] || offs[j] + bufs[j].size <= offs[i]);
                }
            }
        }
    }
}
