//! Views that move data, and Slice of an activation. A view chain (Reshape, Transpose,
//! Flatten, Squeeze, Unsqueeze, Slice) is followed element by element as a [`Moved`]: any
//! rank, each logical element naming the physical element of an IR value it reads. Where
//! the chain reaches a shape the IR holds (`[1, K]`, `[1, C, H, W]`), it becomes a free
//! [`NodeOp::Alias`] if some layout puts every element where it already lies, else one
//! [`NodeOp::Copy`]: the table of source elements compressed into a strided descriptor.
//! Values of other ranks (ShuffleNet's `[1, g, C/g, H, W]`) live only here, between views.

use super::views::{candidates, offset, slice_ranges, strides};
use super::{Ctx, Nd, Result};
use crate::ir::{Layout, NodeOp, ValueId};
use kestrel_runtime::COPY_MAX_RANK;

/// A value of ONNX shape `shape` whose logical element `j` is physical element `map[j]`
/// of IR value `root`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Moved {
    pub root: ValueId,
    pub shape: Vec<usize>,
    pub map: Vec<usize>,
}

impl Moved {
    /// The same elements viewed as `shape` (logical order kept).
    pub fn reshaped(self, shape: Vec<usize>) -> Moved {
        Moved { shape, ..self }
    }

    /// Axes permuted: result axis `k` is axis `perm[k]`.
    pub fn transposed(self, perm: &[usize]) -> Moved {
        let target: Vec<usize> = perm.iter().map(|&a| self.shape[a]).collect();
        let (ss, ts) = (strides(&self.shape), strides(&target));
        let map = (0..self.map.len())
            .map(|j| self.map[(0..target.len()).map(|k| (j / ts[k]) % target[k] * ss[perm[k]]).sum::<usize>()])
            .collect();
        Moved { root: self.root, shape: target, map }
    }
}

/// Input 0 of `nd` as a [`Moved`]: a view defined here, or an IR value read in its layout.
pub(super) fn source(ctx: &Ctx, nd: &Nd) -> Result<Moved> {
    if let Some(m) = nd.input(0).and_then(|n| ctx.moved.get(n)) {
        return Ok(m.clone());
    }
    let x = ctx.act(nd, 0)?;
    let v = ctx.val(x);
    Ok(Moved { root: x, shape: v.onnx_shape(), map: (0..v.len()).map(|j| offset(v.dims, v.layout, j)).collect() })
}

/// Define the node's output as `m`: an alias or a copy of its root where the IR holds its
/// shape, else a view kept for the next view node.
pub(super) fn finish(ctx: &mut Ctx, nd: &Nd, m: Moved) -> Result<()> {
    let out = nd.out0().to_string();
    if !matches!(m.shape[..], [1, _] | [1, _, _, _]) {
        if ctx.values.contains_key(&out) || ctx.moved.contains_key(&out) || ctx.is_const(&out) {
            return Err(nd.err(format!("output \"{out}\" is defined twice")));
        }
        ctx.moved.insert(out, m);
        return Ok(());
    }
    let root = ctx.val(m.root).clone();
    let cands = candidates(&root, &m.shape, None);
    let free = cands.iter().find(|&&(dims, layout)| {
        dims.iter().product::<usize>() == m.map.len() && (0..m.map.len()).all(|j| offset(dims, layout, j) == m.map[j])
    });
    if let Some(&(dims, layout)) = free {
        return ctx.push_alias(nd, m.root, dims, layout);
    }
    // A copy: a flat result in logical order, a 4-D one in the root's layout when it is
    // 4-D (NCHW otherwise).
    let (dims, layout) = match m.shape[..] {
        [1, k] => ([1, 1, 1, k], Layout::FlatHwc),
        [1, a, b, c] if root.layout == Layout::Nhwc => ([1, a, b, c], Layout::Nhwc),
        [1, a, b, c] => ([1, b, c, a], Layout::Nchw),
        _ => unreachable!("matched above"),
    };
    let mut table = vec![0; m.map.len()];
    for (j, &src) in m.map.iter().enumerate() {
        table[offset(dims, layout, j)] = src;
    }
    let (base, cdims, cstrides) = compress(&table).ok_or_else(|| {
        nd.err(format!(
            "this view of ONNX shape {:?} reorders elements in a pattern of more than {COPY_MAX_RANK} strided axes",
            m.shape
        ))
    })?;
    let y = ctx.define(nd, &out, dims, layout)?;
    ctx.push(nd, NodeOp::Copy { base, dims: cdims, strides: cstrides }, vec![m.root], y);
    Ok(())
}

/// `table` (`table[j]` = the source of element `j`) as `base + sum(i[k] * strides[k])` over
/// row-major `dims` (a stride negative where an axis runs backwards), with the fewest axes
/// a greedy split from the innermost finds; `None` beyond [`COPY_MAX_RANK`] axes or where
/// no split fits (an irregular table).
pub(super) fn compress(table: &[usize]) -> Option<(usize, Vec<usize>, Vec<isize>)> {
    let mut seq: Vec<isize> = table.iter().map(|&v| isize::try_from(v).ok()).collect::<Option<_>>()?;
    let (mut dims, mut strides) = (Vec::new(), Vec::new());
    while seq.len() > 1 {
        let m = seq.len();
        let s = seq[1] - seq[0];
        let run = (1..m).take_while(|&i| seq[i] == seq[0] + i as isize * s).count() + 1;
        let fits = |l: usize| m % l == 0 && seq.chunks(l).all(|b| b.iter().enumerate().all(|(i, &v)| v == b[0] + i as isize * s));
        let l = (2..=run).rev().find(|&l| fits(l))?;
        dims.push(l);
        strides.push(s);
        seq = seq.iter().step_by(l).copied().collect();
        if dims.len() > COPY_MAX_RANK {
            return None;
        }
    }
    if dims.is_empty() {
        dims.push(1);
        strides.push(1);
    }
    dims.reverse();
    strides.reverse();
    Some((seq[0] as usize, dims, strides))
}

/// ONNX Slice of an activation (starts/ends/axes/steps constant): a copy of the taken
/// elements (any non-zero steps: a negative one reverses its axis), or a free view where
/// they already lie in order.
pub(super) fn slice(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let m = source(ctx, nd)?;
    let (starts, ends, axes, steps) = if ctx.opset < 10 {
        let need = |n: &str| nd.attr_ints(n)?.ok_or_else(|| nd.err(format!("attribute {n} is missing")));
        (need("starts")?, need("ends")?, nd.attr_ints("axes")?, None)
    } else {
        let ints = |ctx: &Ctx, i: usize| -> Result<Option<Vec<i64>>> {
            match ctx.opt_konst(nd, i)? {
                None => Ok(None),
                Some(c) => Ok(Some(c.i64s().ok_or_else(|| nd.err(format!("input {i} must hold integers")))?.to_vec())),
            }
        };
        let need = |ctx: &Ctx, i: usize| ints(ctx, i)?.ok_or_else(|| nd.err(format!("input {i} is missing")));
        (need(ctx, 1)?, need(ctx, 2)?, ints(ctx, 3)?, ints(ctx, 4)?)
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.as_ref().is_some_and(|s| s.len() != starts.len()) {
        return Err(nd.err("starts, ends, axes and steps must have one length"));
    }
    let spans = slice_ranges(nd, &m.shape, &starts, &ends, &axes, steps.as_deref())?;
    let out: Vec<usize> = spans.iter().map(|s| s.len()).collect();
    if out.contains(&0) {
        return Err(nd.err(format!("the slice of ONNX shape {:?} is empty", m.shape)));
    }
    let (ss, os) = (strides(&m.shape), strides(&out));
    let n: usize = out.iter().product();
    let map = (0..n).map(|j| m.map[(0..out.len()).map(|k| spans[k].at((j / os[k]) % out[k]) * ss[k]).sum::<usize>()]).collect();
    finish(ctx, nd, Moved { root: m.root, shape: out, map })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compress_finds_transposes_slices_and_shuffles() {
        // Identity of 12 elements: one axis.
        assert_eq!(compress(&(0..12).collect::<Vec<_>>()), Some((0, vec![12], vec![1])));
        // A 3x4 transpose.
        let t: Vec<usize> = (0..12).map(|j| (j % 3) * 4 + j / 3).collect();
        assert_eq!(compress(&t), Some((0, vec![4, 3], vec![1, 4])));
        // ShuffleNet's shuffle of 6 channels in 2 groups over 2 pixels: c' = a*2 + b reads b*3 + a.
        let s: Vec<usize> = (0..12).map(|j| (j / 6) * 6 + (j % 6 % 2) * 3 + (j % 6) / 2).collect();
        assert_eq!(compress(&s), Some((0, vec![2, 3, 2], vec![6, 1, 3])));
        // Columns 1..4 step 2 of rows 1..3 of a 4x5 map, and one element.
        assert_eq!(compress(&[6, 8, 11, 13]), Some((6, vec![2, 2], vec![5, 2])));
        assert_eq!(compress(&[7]), Some((7, vec![1], vec![1])));
        // Backwards axes have negative strides: a reversed row, the rows of a 3x4 map in
        // reverse order, each read forwards.
        assert_eq!(compress(&[3, 2, 1, 0]), Some((3, vec![4], vec![-1])));
        assert_eq!(compress(&[8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3]), Some((8, vec![3, 4], vec![-4, 1])));
        // Irregular tables are refused.
        assert_eq!(compress(&[0, 1, 3]), None);
    }

    #[test]
    fn transposed_follows_the_permutation() {
        let m = Moved { root: 0, shape: vec![2, 3], map: (0..6).collect() };
        assert_eq!(m.transposed(&[1, 0]).map, vec![0, 3, 1, 4, 2, 5]);
    }
}
