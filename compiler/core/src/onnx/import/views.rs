//! Views: Reshape, Flatten, Squeeze, Unsqueeze and Transpose of an activation. The bytes
//! of a value never move here; the result is an [`NodeOp::Alias`] whose layout says how ONNX
//! indexes the same bytes. Whether one exists is decided by comparing, element by element,
//! where each logical element of the result lies in memory with where each candidate
//! layout would put it, so every case where no byte moves (1 channel, 1x1 maps, size-1
//! axes, layout-only transposes) is found without a list of special cases. A view that
//! would move data, or one of a rank the IR does not hold, goes to copy.rs (a copy op).

use super::{checked_count, copy, Ctx, Nd, Result};
use crate::ir::{Layout, Value};

/// Memory offset of logical (ONNX row-major) element `j` of a value with physical NHWC
/// `dims` in `layout`.
pub(super) fn offset(dims: [usize; 4], layout: Layout, j: usize) -> usize {
    match layout {
        Layout::Nhwc | Layout::FlatHwc => j,
        Layout::Nchw | Layout::FlatChw => {
            let (hw, c) = (dims[1] * dims[2], dims[3]);
            (j % hw) * c + j / hw
        }
    }
}

/// Row-major strides.
pub(super) fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// The IR layouts that could hold a value of ONNX shape `target`, preferred first (`prefer`
/// first of all where it fits).
pub(super) fn candidates(v: &Value, target: &[usize], prefer: Option<Layout>) -> Vec<([usize; 4], Layout)> {
    let mut all = layouts_for(v, target);
    all.sort_by_key(|&(_, l)| Some(l) != prefer);
    all
}

fn layouts_for(v: &Value, target: &[usize]) -> Vec<([usize; 4], Layout)> {
    let chw_first = matches!(v.layout, Layout::Nchw | Layout::FlatChw);
    match *target {
        [1, a, b, c] => vec![([1, b, c, a], Layout::Nchw), ([1, a, b, c], Layout::Nhwc)],
        [1, k] => {
            let mut out = vec![];
            if v.len() == k {
                let flats = if chw_first { [Layout::FlatChw, Layout::FlatHwc] } else { [Layout::FlatHwc, Layout::FlatChw] };
                out.extend(flats.map(|l| (v.dims, l)));
            }
            out.push(([1, 1, 1, k], Layout::FlatHwc));
            out
        }
        _ => vec![],
    }
}

/// Dims and layout of `v` viewed as ONNX shape `target`, where the result's logical element
/// `j` is `v`'s logical element `src(j)`; `None` when no layout fits the bytes.
fn solve(v: &Value, target: &[usize], prefer: Option<Layout>, src: impl Fn(usize) -> usize) -> Option<([usize; 4], Layout)> {
    if checked_count(target) != Some(v.len()) {
        return None;
    }
    candidates(v, target, prefer).into_iter().find(|&(dims, layout)| {
        dims.iter().product::<usize>() == v.len()
            && (0..v.len()).all(|j| offset(dims, layout, j) == offset(v.dims, v.layout, src(j)))
    })
}

/// `v` reshaped to ONNX shape `target` (logical order kept), if no data moves.
pub(super) fn reshaped(v: &Value, target: &[usize]) -> Option<([usize; 4], Layout)> {
    if target == v.onnx_shape() {
        return Some((v.dims, v.layout));
    }
    solve(v, target, None, |j| j)
}

/// `v` transposed by `perm`, if no data moves. The NCHW ↔ NHWC perms give the layout
/// they name even where both would fit (a 1x1 or 1-channel map).
pub(super) fn transposed(v: &Value, perm: &[usize]) -> Option<([usize; 4], Layout)> {
    let shape = v.onnx_shape();
    let target: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    let (ss, ts) = (strides(&shape), strides(&target));
    let prefer = match (v.layout, perm) {
        (Layout::Nchw, [0, 2, 3, 1]) => Some(Layout::Nhwc),
        (Layout::Nhwc, [0, 3, 1, 2]) => Some(Layout::Nchw),
        _ => None,
    };
    solve(v, &target, prefer, |j| (0..target.len()).map(|k| (j / ts[k]) % target[k] * ss[perm[k]]).sum())
}

// ---------------------------------------------------------------------------------------
// Shape arithmetic shared with constant folding

/// Resolve a Reshape target (0 copies, -1 infers) for a tensor of shape `src`.
pub(super) fn resolve_shape(nd: &Nd, src: &[usize], spec: &[i64], allowzero: bool) -> Result<Vec<usize>> {
    let bad = || nd.err(format!("cannot reshape {src:?} to {spec:?}"));
    let count = checked_count(src).ok_or_else(bad)?;
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            0 if !allowzero => out.push(*src.get(i).ok_or_else(bad)?),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            s if s >= 0 => out.push(usize::try_from(s).map_err(|_| bad())?),
            _ => return Err(bad()),
        }
    }
    let known = checked_count(&out).ok_or_else(bad)?;
    if let Some(i) = infer {
        if known == 0 || !count.is_multiple_of(known) {
            return Err(bad());
        }
        out[i] = count / known;
    }
    if checked_count(&out) != Some(count) {
        return Err(bad());
    }
    Ok(out)
}

/// `dims` with size-1 axes inserted at `axes` (positions in the result).
pub(super) fn unsqueezed(nd: &Nd, dims: &[usize], axes: &[i64]) -> Result<Vec<usize>> {
    let r = dims.len() + axes.len();
    let mut ones = vec![false; r];
    for &a in axes {
        let i = if a < 0 { a + r as i64 } else { a };
        let slot = usize::try_from(i).ok().and_then(|i| ones.get_mut(i));
        match slot {
            Some(s) if !*s => *s = true,
            Some(_) => return Err(nd.bad_attr("axes", format!("{axes:?}"), "repeated axis")),
            None => return Err(nd.bad_attr("axes", format!("{axes:?}"), &format!("out of range for rank {r}"))),
        }
    }
    let mut src = dims.iter();
    Ok(ones.iter().map(|&one| if one { 1 } else { src.next().copied().unwrap_or(1) }).collect())
}

/// `dims` without the size-1 axes `axes` (all size-1 axes when `None`).
pub(super) fn squeezed(nd: &Nd, dims: &[usize], axes: Option<&[i64]>) -> Result<Vec<usize>> {
    let r = dims.len() as i64;
    let Some(axes) = axes else { return Ok(dims.iter().copied().filter(|&d| d != 1).collect()) };
    let mut drop = vec![false; dims.len()];
    for &a in axes {
        let i = if a < 0 { a + r } else { a };
        match usize::try_from(i).ok().filter(|&i| i < dims.len()) {
            Some(i) if dims[i] == 1 => drop[i] = true,
            Some(i) => return Err(nd.bad_attr("axes", format!("{axes:?}"), &format!("axis {i} has size {}", dims[i]))),
            None => return Err(nd.bad_attr("axes", format!("{axes:?}"), &format!("out of range for rank {r}"))),
        }
    }
    Ok(dims.iter().zip(&drop).filter(|&(_, &d)| !d).map(|(&n, _)| n).collect())
}

/// The `perm` attribute of a Transpose of rank `r` (reversed axes when absent).
pub(super) fn perm_of(nd: &Nd, r: usize) -> Result<Vec<usize>> {
    let Some(p) = nd.attr_ints("perm")? else { return Ok((0..r).rev().collect()) };
    let mut seen = vec![false; r];
    let ok = p.len() == r
        && p.iter().all(|&a| usize::try_from(a).ok().and_then(|a| seen.get_mut(a)).is_some_and(|s| !std::mem::replace(s, true)));
    if !ok {
        return Err(nd.bad_attr("perm", format!("{p:?}"), &format!("not a permutation of the {r} axes")));
    }
    Ok(p.iter().map(|&a| a as usize).collect())
}

/// One axis of a Slice: `len` elements from `start`, `step` apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Span {
    /// First index.
    pub start: usize,
    /// Distance between taken indices (negative walks backwards).
    pub step: i64,
    /// Number of indices taken.
    pub len: usize,
}

impl Span {
    pub(super) fn len(&self) -> usize {
        self.len
    }
    /// The `i`-th index taken.
    pub(super) fn at(&self, i: usize) -> usize {
        (self.start as i64 + i as i64 * self.step) as usize
    }
}

/// The index span per axis of an ONNX Slice on `dims` (ONNX clamping rules).
pub(super) fn slice_ranges(
    nd: &Nd,
    dims: &[usize],
    starts: &[i64],
    ends: &[i64],
    axes: &[i64],
    steps: Option<&[i64]>,
) -> Result<Vec<Span>> {
    let r = dims.len();
    let mut out: Vec<Span> = dims.iter().map(|&d| Span { start: 0, step: 1, len: d }).collect();
    for (k, &a) in axes.iter().enumerate() {
        let ax = usize::try_from(if a < 0 { a + r as i64 } else { a })
            .ok()
            .filter(|&x| x < r)
            .ok_or_else(|| nd.bad_attr("axes", format!("{axes:?}"), &format!("out of range for rank {r}")))?;
        let d = dims[ax] as i64;
        let step = steps.map_or(1, |s| s[k]);
        if step == 0 {
            return Err(nd.err("a slice step of 0"));
        }
        let norm = |x: i64| if x < 0 { x + d } else { x };
        let (s, e) = (norm(starts[k]), norm(ends[k]));
        let (s, e) = if step > 0 { (s.clamp(0, d), e.clamp(0, d)) } else { (s.clamp(0, d - 1), e.clamp(-1, d - 1)) };
        let span = if step > 0 { e - s } else { s - e };
        let len = if span > 0 { (span as u64 - 1) / step.unsigned_abs() + 1 } else { 0 };
        out[ax] = Span { start: s.max(0) as usize, step, len: len as usize };
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Builders

/// Input 0 of `nd` when it is an IR value (not a view of another rank kept in copy.rs).
fn real(ctx: &Ctx, nd: &Nd) -> Option<usize> {
    nd.input(0).and_then(|n| ctx.values.get(n)).copied()
}

/// The ONNX shape of input 0 (an IR value or a kept view).
fn shape_of(ctx: &Ctx, nd: &Nd) -> Result<Vec<usize>> {
    if let Some(m) = nd.input(0).and_then(|n| ctx.moved.get(n)) {
        return Ok(m.shape.clone());
    }
    Ok(ctx.val(ctx.act(nd, 0)?).onnx_shape())
}

/// Push input 0 viewed as ONNX shape `target` (logical order kept): a free alias where the
/// bytes already lie right, else a copy or a kept view (copy.rs).
fn push_reshaped(ctx: &mut Ctx, nd: &Nd, target: &[usize]) -> Result<()> {
    if let Some(x) = real(ctx, nd).filter(|_| matches!(target, [1, _] | [1, _, _, _])) {
        if let Some((dims, layout)) = reshaped(ctx.val(x), target) {
            return ctx.push_alias(nd, x, dims, layout);
        }
    }
    let m = copy::source(ctx, nd)?;
    if checked_count(target) != Some(m.map.len()) {
        return Err(nd.err(format!("cannot view ONNX shape {:?} as {target:?}", m.shape)));
    }
    copy::finish(ctx, nd, m.reshaped(target.to_vec()))
}

pub(super) fn flatten(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let shape = shape_of(ctx, nd)?;
    let axis = nd.attr_i("axis", 1)?;
    let a = if axis < 0 { axis + shape.len() as i64 } else { axis };
    if !(0..=shape.len() as i64).contains(&a) {
        return Err(nd.bad_attr("axis", axis, &format!("out of range for rank {}", shape.len())));
    }
    let (rows, cols) = shape.split_at(a as usize);
    let rows: usize = rows.iter().product();
    if rows != 1 {
        return Err(nd.bad_attr("axis", axis, &format!("on ONNX shape {shape:?} it gives {rows} rows; only [1,K] is supported")));
    }
    push_reshaped(ctx, nd, &[1, cols.iter().product()])
}

pub(super) fn reshape(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let spec = ctx.konst(nd, 1)?;
    let spec = spec.i64s().ok_or_else(|| nd.err("the shape input must be an int64 constant"))?.to_vec();
    let target = resolve_shape(nd, &shape_of(ctx, nd)?, &spec, nd.attr_i("allowzero", 0)? != 0)?;
    push_reshaped(ctx, nd, &target)
}

/// The axes of Squeeze / Unsqueeze: the attribute before opset 13, input 1 from 13 on.
fn view_axes(ctx: &Ctx, nd: &Nd) -> Result<Option<Vec<i64>>> {
    if ctx.opset < 13 {
        return nd.attr_ints("axes");
    }
    match ctx.opt_konst(nd, 1)? {
        None => Ok(None),
        Some(c) => Ok(Some(c.i64s().ok_or_else(|| nd.err("axes must be integers"))?.to_vec())),
    }
}

pub(super) fn squeeze(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let axes = view_axes(ctx, nd)?;
    let target = squeezed(nd, &shape_of(ctx, nd)?, axes.as_deref())?;
    push_reshaped(ctx, nd, &target)
}

pub(super) fn unsqueeze(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let axes = view_axes(ctx, nd)?.ok_or_else(|| nd.err("axes are missing"))?;
    let target = unsqueezed(nd, &shape_of(ctx, nd)?, &axes)?;
    push_reshaped(ctx, nd, &target)
}

pub(super) fn transpose(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    let perm = perm_of(nd, shape_of(ctx, nd)?.len())?;
    if let Some(x) = real(ctx, nd) {
        if let Some((dims, layout)) = transposed(ctx.val(x), &perm) {
            return ctx.push_alias(nd, x, dims, layout);
        }
    }
    let m = copy::source(ctx, nd)?;
    copy::finish(ctx, nd, m.transposed(&perm))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(dims: [usize; 4], layout: Layout) -> Value {
        Value { name: "v".into(), dims, layout }
    }

    #[test]
    fn one_channel_and_one_pixel_views_are_free() {
        // The course's Keras MNIST: NHWC [1,28,28,1] reshaped to NCHW [1,1,28,28].
        let x = val([1, 28, 28, 1], Layout::Nhwc);
        assert_eq!(reshaped(&x, &[1, 1, 28, 28]), Some(([1, 28, 28, 1], Layout::Nchw)));
        // A 1x1 map: [1,C,1,1] ↔ [1,C] ↔ [1,1,1,C].
        let p = val([1, 1, 1, 8], Layout::Nchw);
        assert_eq!(reshaped(&p, &[1, 8]), Some(([1, 1, 1, 8], Layout::FlatChw)));
        assert_eq!(transposed(&p, &[0, 2, 3, 1]), Some(([1, 1, 1, 8], Layout::Nhwc)));
        // Layout-only transposes.
        let n = val([1, 4, 5, 3], Layout::Nchw);
        assert_eq!(transposed(&n, &[0, 2, 3, 1]), Some(([1, 4, 5, 3], Layout::Nhwc)));
        let h = val([1, 4, 5, 3], Layout::Nhwc);
        assert_eq!(transposed(&h, &[0, 3, 1, 2]), Some(([1, 4, 5, 3], Layout::Nchw)));
        // Flatten of a 4-D NHWC value, and back.
        assert_eq!(reshaped(&h, &[1, 60]), Some(([1, 4, 5, 3], Layout::FlatHwc)));
        let f = val([1, 4, 5, 3], Layout::FlatHwc);
        assert_eq!(reshaped(&f, &[1, 4, 5, 3]), Some(([1, 4, 5, 3], Layout::Nhwc)));
    }

    #[test]
    fn views_that_move_data_are_refused() {
        let n = val([1, 4, 5, 3], Layout::Nchw);
        // H and W swapped, and a reshape that regroups channels with pixels.
        assert_eq!(transposed(&n, &[0, 1, 3, 2]), None);
        assert_eq!(reshaped(&n, &[1, 5, 3, 4]), None);
        // Regrouping channels with rows moves data; regrouping rows with columns does not.
        assert_eq!(reshaped(&n, &[1, 4, 3, 5]), None);
        assert_eq!(reshaped(&n, &[1, 3, 2, 10]), Some(([1, 2, 10, 3], Layout::Nchw)));
        // NCHW → NHWC order before a flatten is a reorder.
        assert_eq!(transposed(&n, &[0, 2, 3, 1]).and_then(|(d, l)| reshaped(&val(d, l), &[1, 60])), Some(([1, 4, 5, 3], Layout::FlatHwc)));
        assert_eq!(reshaped(&val([1, 4, 5, 3], Layout::FlatChw), &[1, 4, 5, 3]), None);
        // Rank 3 and 5 have no IR layout.
        assert_eq!(reshaped(&n, &[1, 3, 20]), None);
    }

    #[test]
    fn slice_spans_follow_onnx_clamping() {
        let nd_p = crate::onnx::pb_util::node("Slice", "s", &[], &[], vec![]);
        let nd = Nd { p: &nd_p, name: "s".into() };
        let s = slice_ranges(&nd, &[10], &[2], &[i64::MAX], &[0], None).unwrap();
        assert_eq!(s[0], Span { start: 2, step: 1, len: 8 });
        let s = slice_ranges(&nd, &[10], &[-1], &[i64::MIN], &[0], Some(&[-3])).unwrap();
        assert_eq!((s[0].len, s[0].at(0), s[0].at(3)), (4, 9, 0));
        let s = slice_ranges(&nd, &[10], &[1], &[8], &[-1], Some(&[2])).unwrap();
        assert_eq!((s[0].len, s[0].at(3)), (4, 7));
        let s = slice_ranges(&nd, &[4], &[5], &[9], &[0], None).unwrap();
        assert_eq!(s[0].len, 0);
        assert_eq!(squeezed(&nd, &[1, 3, 1, 1], Some(&[2, 3])).unwrap(), vec![1, 3]);
        assert_eq!(squeezed(&nd, &[1, 3, 1, 1], None).unwrap(), vec![3]);
        assert!(squeezed(&nd, &[1, 3, 1, 1], Some(&[1])).is_err());
        assert_eq!(unsqueezed(&nd, &[3], &[0, -1]).unwrap(), vec![1, 3, 1]);
    }
}
