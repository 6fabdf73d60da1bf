//! Constant folding: a node whose inputs are all constants (initializers, `Constant`
//! nodes, earlier folded results, or the static shape of an activation read by `Shape`) is
//! evaluated here at import, and its output becomes a constant. One small function per op,
//! looked up by [`folder`]; shapes and broadcasting follow ONNX (numpy) rules.

use super::views::strides;
use super::{checked_count, decode_tensor, CData, Const, Nd, Result, MAX_ELEMS};

/// Evaluates one node on constant inputs (`None` for an omitted optional input).
pub(super) type Folder = fn(&Nd, &[Option<&Const>], i64) -> Result<Const>;

/// The evaluator of an op type, `None` when it is not folded.
pub(super) fn folder(op: &str) -> Option<Folder> {
    let f: Folder = match op {
        "Constant" => constant,
        "ConstantOfShape" => constant_of_shape,
        "Shape" => shape,
        "Gather" => gather,
        "Slice" => slice,
        "Concat" => concat,
        "Unsqueeze" => unsqueeze,
        "Squeeze" => squeeze,
        "Flatten" => flatten,
        "Cast" => cast,
        "Reshape" => reshape,
        "Transpose" => transpose,
        "Range" => range,
        "Expand" => expand,
        "Identity" | "Dropout" => identity,
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Min" | "Max" => binary,
        "Sqrt" | "Reciprocal" | "Neg" | "Floor" | "Ceil" | "Abs" | "Exp" => unary,
        _ => return None,
    };
    Some(f)
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A constant from dims and data, checked against [`MAX_ELEMS`].
fn make(nd: &Nd, dims: Vec<usize>, data: CData) -> Result<Const> {
    match checked_count(&dims) {
        Some(n) if n == data_len(&data) => Ok(Const { dims, data }),
        Some(n) => Err(nd.err(format!("folding gives {} values for shape {dims:?} ({n} expected)", data_len(&data)))),
        None => Err(nd.err(format!("folding gives a constant of shape {dims:?}, over {MAX_ELEMS} values"))),
    }
}

fn data_len(d: &CData) -> usize {
    match d {
        CData::F(v) => v.len(),
        CData::I(v) => v.len(),
    }
}

/// Input `i`, required.
fn arg<'c>(nd: &Nd, ins: &[Option<&'c Const>], i: usize) -> Result<&'c Const> {
    ins.get(i).copied().flatten().ok_or_else(|| nd.err(format!("input {i} is missing")))
}

/// Input `i` as integers (axes, shapes, indices).
fn ints<'c>(nd: &Nd, ins: &[Option<&'c Const>], i: usize) -> Result<&'c [i64]> {
    arg(nd, ins, i)?.i64s().ok_or_else(|| nd.err(format!("input {i} must hold integers")))
}

/// Normalize axis `a` for rank `r`.
fn axis_of(nd: &Nd, a: i64, r: usize) -> Result<usize> {
    let n = if a < 0 { a + r as i64 } else { a };
    usize::try_from(n).ok().filter(|&n| n < r).ok_or_else(|| nd.bad_attr("axis", a, &format!("out of range for rank {r}")))
}

/// Axes from the attribute `axes` (opset < 13, or always for some ops) or input 1.
fn axes_of(nd: &Nd, ins: &[Option<&Const>], opset: i64, from_input: i64) -> Result<Option<Vec<i64>>> {
    if opset < from_input {
        return nd.attr_ints("axes");
    }
    Ok(ins.get(1).copied().flatten().map(|c| c.i64s().map(<[i64]>::to_vec)).flatten().or(None))
}

/// Pick elements of `d` at `idx` (source indices).
fn pick(d: &CData, idx: &[usize]) -> CData {
    match d {
        CData::F(v) => CData::F(idx.iter().map(|&i| v[i]).collect()),
        CData::I(v) => CData::I(idx.iter().map(|&i| v[i]).collect()),
    }
}

/// The numpy broadcast of two shapes.
pub(super) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= r { s[i + s.len() - r] } else { 1 };
    (0..r)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// For each element of `out` (row-major), the index of the element of `src` broadcast to it.
fn broadcast_index(src: &[usize], out: &[usize]) -> Vec<usize> {
    let n = out.iter().product::<usize>();
    let pad = out.len() - src.len();
    let ss = strides(src);
    let os = strides(out);
    (0..n)
        .map(|i| {
            (0..src.len())
                .map(|k| if src[k] == 1 { 0 } else { (i / os[k + pad]) % out[k + pad] * ss[k] })
                .sum()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Sources

fn constant(nd: &Nd, _: &[Option<&Const>], _: i64) -> Result<Const> {
    let c = if let Some(a) = nd.attr("value") {
        match &a.t {
            Some(t) => decode_tensor(t),
            None => Err("attribute value holds no tensor".to_string()),
        }
    } else if let Some(a) = nd.attr("value_float") {
        Ok(Const { dims: vec![], data: CData::F(vec![a.f]) })
    } else if let Some(a) = nd.attr("value_floats") {
        Ok(Const { dims: vec![a.floats.len()], data: CData::F(a.floats.clone()) })
    } else if let Some(a) = nd.attr("value_int") {
        Ok(Const { dims: vec![], data: CData::I(vec![a.i]) })
    } else if let Some(a) = nd.attr("value_ints") {
        Ok(Const { dims: vec![a.ints.len()], data: CData::I(a.ints.clone()) })
    } else {
        let names: Vec<&str> = nd.p.attribute.iter().map(|a| a.name.as_str()).collect();
        Err(format!("unsupported constant kind {names:?}"))
    };
    c.map_err(|why| nd.err(why))
}

fn constant_of_shape(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    let dims = ints(nd, ins, 0)?
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| nd.err(format!("negative dimension {d}"))))
        .collect::<Result<Vec<usize>>>()?;
    let n = checked_count(&dims).ok_or_else(|| nd.err(format!("shape {dims:?} is too large")))?;
    let fill = match nd.attr("value").and_then(|a| a.t.as_ref()) {
        None => CData::F(vec![0.0]),
        Some(t) => decode_tensor(t).map_err(|why| nd.bad_attr("value", "(tensor)", &why))?.data,
    };
    let data = match fill {
        CData::F(v) if v.len() == 1 => CData::F(vec![v[0]; n]),
        CData::I(v) if v.len() == 1 => CData::I(vec![v[0]; n]),
        _ => return Err(nd.bad_attr("value", "(tensor)", "it must hold one value")),
    };
    make(nd, dims, data)
}

/// `Shape` of a constant; the importer calls [`shape_of`] for an activation.
fn shape(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    shape_of(nd, &arg(nd, ins, 0)?.dims)
}

/// The `Shape` output for an input of shape `dims` (`start` / `end` attributes applied).
pub(super) fn shape_of(nd: &Nd, dims: &[usize]) -> Result<Const> {
    let r = dims.len() as i64;
    let clamp = |i: i64| (if i < 0 { i + r } else { i }).clamp(0, r) as usize;
    let (start, end) = (clamp(nd.attr_i("start", 0)?), clamp(nd.attr_i("end", r)?));
    let v: Vec<i64> = dims.get(start..end.max(start)).unwrap_or(&[]).iter().map(|&d| d as i64).collect();
    Ok(Const { dims: vec![v.len()], data: CData::I(v) })
}

fn range(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    let scalar = |i: usize| -> Result<f64> {
        let c = arg(nd, ins, i)?;
        match c.f32s().as_slice() {
            [v] => Ok(match &c.data {
                CData::I(x) => x[0] as f64,
                CData::F(_) => *v as f64,
            }),
            _ => Err(nd.err(format!("input {i} must be a scalar"))),
        }
    };
    let (start, limit, delta) = (scalar(0)?, scalar(1)?, scalar(2)?);
    if delta == 0.0 || !(start.is_finite() && limit.is_finite() && delta.is_finite()) {
        return Err(nd.err("Range needs a finite, non-zero delta"));
    }
    let n = ((limit - start) / delta).ceil().max(0.0);
    if n > MAX_ELEMS as f64 {
        return Err(nd.err(format!("Range of {n} values is too large")));
    }
    let vals = (0..n as usize).map(|i| start + i as f64 * delta);
    let data = match &arg(nd, ins, 0)?.data {
        CData::I(_) => CData::I(vals.map(|v| v as i64).collect()),
        CData::F(_) => CData::F(vals.map(|v| v as f32).collect()),
    };
    make(nd, vec![n as usize], data)
}

// ---------------------------------------------------------------------------------------
// Views and gathers

fn identity(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    Ok(arg(nd, ins, 0)?.clone())
}

fn reshape(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    let c = arg(nd, ins, 0)?;
    let dims = super::views::resolve_shape(nd, &c.dims, ints(nd, ins, 1)?, nd.attr_i("allowzero", 0)? != 0)?;
    make(nd, dims, c.data.clone())
}

fn flatten(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    let c = arg(nd, ins, 0)?;
    let r = c.dims.len();
    let a = nd.attr_i("axis", 1)?;
    let a = if a < 0 { a + r as i64 } else { a };
    if !(0..=r as i64).contains(&a) {
        return Err(nd.bad_attr("axis", a, &format!("out of range for rank {r}")));
    }
    let (rows, cols) = c.dims.split_at(a as usize);
    make(nd, vec![rows.iter().product(), cols.iter().product()], c.data.clone())
}

fn unsqueeze(nd: &Nd, ins: &[Option<&Const>], opset: i64) -> Result<Const> {
    let c = arg(nd, ins, 0)?;
    let axes = axes_of(nd, ins, opset, 13)?.ok_or_else(|| nd.err("axes are missing"))?;
    let dims = super::views::unsqueezed(nd, &c.dims, &axes)?;
    make(nd, dims, c.data.clone())
}

fn squeeze(nd: &Nd, ins: &[Option<&Const>], opset: i64) -> Result<Const> {
    let c = arg(nd, ins, 0)?;
    let dims = super::views::squeezed(nd, &c.dims, axes_of(nd, ins, opset, 13)?.as_deref())?;
    make(nd, dims, c.data.clone())
}

fn transpose(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    let c = arg(nd, ins, 0)?;
    let perm = super::views::perm_of(nd, c.dims.len())?;
    let out: Vec<usize> = perm.iter().map(|&a| c.dims[a]).collect();
    let (ss, os) = (strides(&c.dims), strides(&out));
    let idx: Vec<usize> =
        (0..c.len()).map(|i| (0..out.len()).map(|k| (i / os[k]) % out[k] * ss[perm[k]]).sum()).collect();
    make(nd, out, pick(&c.data, &idx))
}

fn gather(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    let data = arg(nd, ins, 0)?;
    let idx = arg(nd, ins, 1)?;
    let ids = idx.i64s().ok_or_else(|| nd.err("indices must be integers"))?;
    let r = data.dims.len();
    if r == 0 {
        return Err(nd.err("cannot gather from a scalar"));
    }
    let axis = axis_of(nd, nd.attr_i("axis", 0)?, r)?;
    let n = data.dims[axis];
    let picks = ids
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + n as i64 } else { i };
            usize::try_from(j).ok().filter(|&j| j < n).ok_or_else(|| nd.err(format!("index {i} out of range for {n} values")))
        })
        .collect::<Result<Vec<usize>>>()?;
    let outer: usize = data.dims[..axis].iter().product();
    let inner: usize = data.dims[axis + 1..].iter().product();
    let src: Vec<usize> = (0..outer)
        .flat_map(|o| picks.iter().flat_map(move |&p| (0..inner).map(move |i| (o * n + p) * inner + i)))
        .collect();
    let dims = [&data.dims[..axis], &idx.dims[..], &data.dims[axis + 1..]].concat();
    make(nd, dims, pick(&data.data, &src))
}

fn slice(nd: &Nd, ins: &[Option<&Const>], opset: i64) -> Result<Const> {
    let c = arg(nd, ins, 0)?;
    let r = c.dims.len();
    let (starts, ends, axes, steps) = if opset < 10 {
        let need = |n: &str| nd.attr_ints(n)?.ok_or_else(|| nd.err(format!("attribute {n} is missing")));
        (need("starts")?, need("ends")?, nd.attr_ints("axes")?, None)
    } else {
        let opt = |i: usize| ins.get(i).copied().flatten().map(|c| c.i64s().map(<[i64]>::to_vec).ok_or_else(|| nd.err(format!("input {i} must hold integers")))).transpose();
        (ints(nd, ins, 1)?.to_vec(), ints(nd, ins, 2)?.to_vec(), opt(3)?, opt(4)?)
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.as_ref().is_some_and(|s| s.len() != starts.len()) {
        return Err(nd.err("starts, ends, axes and steps must have one length"));
    }
    let ranges = super::views::slice_ranges(nd, &c.dims, &starts, &ends, &axes, steps.as_deref())?;
    let out: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
    let (ss, os) = (strides(&c.dims), strides(&out));
    let n: usize = out.iter().product();
    let idx: Vec<usize> =
        (0..n).map(|i| (0..r).map(|k| ranges[k].at((i / os[k]) % out[k]) * ss[k]).sum()).collect();
    make(nd, out, pick(&c.data, &idx))
}

fn concat(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    let parts = (0..ins.len()).map(|i| arg(nd, ins, i)).collect::<Result<Vec<_>>>()?;
    let first = parts.first().ok_or_else(|| nd.err("Concat needs inputs"))?;
    let axis = match nd.attr("axis") {
        Some(_) => axis_of(nd, nd.attr_i("axis", 0)?, first.dims.len())?,
        None => return Err(nd.err("attribute axis is missing")),
    };
    let same = |p: &Const| {
        p.dims.len() == first.dims.len() && (0..p.dims.len()).all(|k| k == axis || p.dims[k] == first.dims[k])
    };
    if let Some(bad) = parts.iter().find(|p| !same(p)) {
        return Err(nd.err(format!("constant inputs of shapes {:?} and {:?} cannot be concatenated", first.dims, bad.dims)));
    }
    let outer: usize = first.dims[..axis].iter().product();
    let ints = parts.iter().all(|p| matches!(p.data, CData::I(_)));
    let mut f = Vec::new();
    let mut i = Vec::new();
    for o in 0..outer {
        for p in &parts {
            let chunk: usize = p.dims[axis..].iter().product();
            match &p.data {
                CData::I(v) if ints => i.extend_from_slice(&v[o * chunk..(o + 1) * chunk]),
                _ => f.extend_from_slice(&p.f32s()[o * chunk..(o + 1) * chunk]),
            }
        }
    }
    let mut dims = first.dims.clone();
    dims[axis] = parts.iter().map(|p| p.dims[axis]).sum();
    make(nd, dims, if ints { CData::I(i) } else { CData::F(f) })
}

fn expand(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    let c = arg(nd, ins, 0)?;
    let to: Vec<usize> = ints(nd, ins, 1)?
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| nd.err(format!("negative dimension {d}"))))
        .collect::<Result<_>>()?;
    let out = broadcast_shape(&c.dims, &to)
        .ok_or_else(|| nd.err(format!("shape {:?} cannot be expanded to {to:?}", c.dims)))?;
    checked_count(&out).ok_or_else(|| nd.err(format!("expanding to {out:?} is too large")))?;
    make(nd, out.clone(), pick(&c.data, &broadcast_index(&c.dims, &out)))
}

// ---------------------------------------------------------------------------------------
// Arithmetic

fn cast(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    use crate::onnx::pb::tensor_proto::DataType as D;
    let c = arg(nd, ins, 0)?;
    let to = nd.attr_i("to", 0)?;
    let data = match D::try_from(to as i32) {
        Ok(D::Float | D::Double | D::Float16 | D::Bfloat16) => CData::F(c.f32s()),
        Ok(D::Int64 | D::Int32 | D::Int16 | D::Int8 | D::Uint8 | D::Uint16 | D::Uint32 | D::Uint64) => match &c.data {
            CData::I(v) => CData::I(v.clone()),
            CData::F(v) => CData::I(v.iter().map(|&x| x as i64).collect()),
        },
        Ok(D::Bool) => CData::I(c.f32s().iter().map(|&x| (x != 0.0) as i64).collect()),
        _ => return Err(nd.bad_attr("to", to, "not a numeric type")),
    };
    make(nd, c.dims.clone(), data)
}

fn unary(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    let c = arg(nd, ins, 0)?;
    let f: fn(f32) -> f32 = match nd.op() {
        "Sqrt" => f32::sqrt,
        "Reciprocal" => |x| 1.0 / x,
        "Neg" => |x| -x,
        "Floor" => f32::floor,
        "Ceil" => f32::ceil,
        "Abs" => f32::abs,
        _ => f32::exp,
    };
    let data = match &c.data {
        CData::I(v) if nd.op() == "Neg" => CData::I(v.iter().map(|x| x.wrapping_neg()).collect()),
        CData::I(v) if nd.op() == "Abs" => CData::I(v.iter().map(|x| x.wrapping_abs()).collect()),
        CData::I(v) if matches!(nd.op(), "Floor" | "Ceil") => CData::I(v.clone()),
        _ => CData::F(c.f32s().into_iter().map(f).collect()),
    };
    make(nd, c.dims.clone(), data)
}

/// Integer arithmetic (ONNX integer Div truncates toward zero); `None` where it is undefined.
fn int_op(op: &str, a: i64, b: i64) -> Option<i64> {
    match op {
        "Add" => Some(a.wrapping_add(b)),
        "Sub" => Some(a.wrapping_sub(b)),
        "Mul" => Some(a.wrapping_mul(b)),
        "Div" => a.checked_div(b),
        "Pow" => u32::try_from(b).ok().map(|e| a.wrapping_pow(e)),
        "Min" => Some(a.min(b)),
        _ => Some(a.max(b)),
    }
}

fn float_op(op: &str, a: f32, b: f32) -> f32 {
    match op {
        "Add" => a + b,
        "Sub" => a - b,
        "Mul" => a * b,
        "Div" => a / b,
        "Pow" => a.powf(b),
        "Min" => a.min(b),
        _ => a.max(b),
    }
}

fn binary(nd: &Nd, ins: &[Option<&Const>], _: i64) -> Result<Const> {
    if ins.len() != 2 {
        return Err(nd.err(format!("{} constants: only two are folded", ins.len())));
    }
    let (a, b) = (arg(nd, ins, 0)?, arg(nd, ins, 1)?);
    let out = broadcast_shape(&a.dims, &b.dims)
        .ok_or_else(|| nd.err(format!("shapes {:?} and {:?} do not broadcast", a.dims, b.dims)))?;
    checked_count(&out).ok_or_else(|| nd.err(format!("the result {out:?} is too large")))?;
    let (ia, ib) = (broadcast_index(&a.dims, &out), broadcast_index(&b.dims, &out));
    let op = nd.op();
    let data = match (&a.data, &b.data) {
        (CData::I(x), CData::I(y)) => CData::I(
            ia.iter()
                .zip(&ib)
                .map(|(&i, &j)| int_op(op, x[i], y[j]).ok_or_else(|| nd.err(format!("{op} of {} and {} is undefined", x[i], y[j]))))
                .collect::<Result<_>>()?,
        ),
        _ => {
            let (x, y) = (a.f32s(), b.f32s());
            CData::F(ia.iter().zip(&ib).map(|(&i, &j)| float_op(op, x[i], y[j])).collect())
        }
    };
    make(nd, out, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shape(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shape(&[2, 3], &[4]), None);
        assert_eq!(broadcast_shape(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast_index(&[3, 1], &[3, 2]), vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(broadcast_index(&[2], &[3, 2]), vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }

    #[test]
    fn integer_division_truncates_and_zero_is_an_error() {
        assert_eq!(int_op("Div", -7, 2), Some(-3));
        assert_eq!(int_op("Div", 7, 0), None);
        assert_eq!(int_op("Pow", 2, 10), Some(1024));
        assert_eq!(int_op("Pow", 2, -1), None);
    }
}
