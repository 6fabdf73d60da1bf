//! The zero-copy reader, the validator and the scalar kernels on real model files, written
//! to run under Miri (`scripts/miri.sh`) so the `unsafe` slice casts are checked: loads,
//! inference through every scalar kernel of the int8 and f32 reference model, re-sealed
//! corruptions and truncations, misaligned buffers. Under Miri the corruption and
//! truncation sweeps take a sample of the offsets; natively they take all.

use kestrel_runtime::format::{self, HEADER_LEN};
use kestrel_runtime::kernels::SCALAR;
use kestrel_runtime::{crc32, Error, Model};

/// Every op kind on a 6x6x2 input (made by `tests/tests/fuzz_regressions.rs`; re-bless
/// with `KESTREL_BLESS=1 cargo test -p kestrel-tests --test fuzz_regressions`).
const INT8: &[u8] = include_bytes!("../../../fuzz/seeds/kes/tiny_all_ops.int8.kes");
const F32: &[u8] = include_bytes!("../../../fuzz/seeds/kes/tiny_all_ops.f32.kes");
/// The point-wise and broadcasting ops (Unary, Lut, Mul, broadcast Add, PRelu), made the same way.
const NEW_INT8: &[u8] = include_bytes!("../../../fuzz/seeds/kes/tiny_new_ops.int8.kes");
const NEW_F32: &[u8] = include_bytes!("../../../fuzz/seeds/kes/tiny_new_ops.f32.kes");
/// Pad, LRN, a backwards Copy and a log-softmax over H (tests/tests/fuzz_regressions.rs).
const LAYOUT_INT8: &[u8] = include_bytes!("../../../fuzz/seeds/kes/tiny_layout_ops.int8.kes");
const LAYOUT_F32: &[u8] = include_bytes!("../../../fuzz/seeds/kes/tiny_layout_ops.f32.kes");
/// The reference workload (too slow for Miri).
const MNIST: &[u8] = include_bytes!("../../../tests/golden/mnist_cnn_28.int8.kes");

/// Offsets the sweeps visit (tests/tests/kes_format.rs takes every one).
const STRIDE: usize = if cfg!(miri) { 599 } else { 5 };

/// A 16-byte aligned copy of `bytes` (and room for a misaligned view).
struct Aligned {
    words: Vec<u128>,
    len: usize,
}

impl Aligned {
    fn new(bytes: &[u8]) -> Aligned {
        let mut a = Aligned::zeroed(bytes.len());
        a.bytes_mut().copy_from_slice(bytes);
        a
    }
    fn zeroed(len: usize) -> Aligned {
        Aligned { words: vec![0u128; len.div_ceil(16) + 1], len }
    }
    fn bytes(&self) -> &[u8] {
        &bytes_of(&self.words)[..self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        let n = self.len;
        &mut bytes_of_mut(&mut self.words)[..n]
    }
    /// The same bytes starting one byte further (misaligned).
    fn shifted(bytes: &[u8]) -> Aligned {
        let mut a = Aligned::zeroed(bytes.len() + 1);
        a.bytes_mut()[1..].copy_from_slice(bytes);
        a
    }
}

fn bytes_of(w: &[u128]) -> &[u8] {
    // SAFETY: u128 has no padding and every byte of it is initialized; u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(w.as_ptr() as *const u8, w.len() * 16) }
}

fn bytes_of_mut(w: &mut [u128]) -> &mut [u8] {
    // SAFETY: as in `bytes_of`; the unique borrow of `w` makes the byte view unique.
    unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr() as *mut u8, w.len() * 16) }
}

/// Load, walk every accessor and run once with the scalar kernels; the output.
fn load_and_run(bytes: &[u8]) -> Result<Vec<f32>, Error> {
    let buf = Aligned::new(bytes);
    let m = Model::load(buf.bytes())?;
    for i in 0..m.n_ops() {
        let _ = m.op(i);
    }
    for i in 0..m.n_tensors() {
        let _ = m.tensor(i);
    }
    let _ = (m.labels().count(), m.layer_names().count(), m.weights().len());
    let mut arena = Aligned::zeroed(m.arena_size());
    let x: Vec<f32> = (0..m.input().len()).map(|i| (i % 17) as f32 / 17.0).collect();
    m.set_input_f32(arena.bytes_mut(), &x)?;
    m.run_with(&SCALAR, arena.bytes_mut())?;
    let mut y = vec![0f32; m.output().len()];
    m.output_f32(arena.bytes(), &mut y)?;
    Ok(y)
}

#[test]
fn every_op_runs_on_the_scalar_kernels() {
    for (name, bytes, n) in [("int8", INT8, 3), ("f32", F32, 3), ("new int8", NEW_INT8, 3), ("new f32", NEW_F32, 3), ("layout int8", LAYOUT_INT8, 3), ("layout f32", LAYOUT_F32, 3), ("mnist", MNIST, 10)] {
        if cfg!(miri) && name == "mnist" {
            continue;
        }
        let y = load_and_run(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(y.len(), n, "{name}");
        let sum: f32 = y.iter().sum();
        assert!((sum - 1.0).abs() < 0.05, "{name}: softmax sums to {sum}");
    }
}

#[test]
fn observed_run_reads_every_tensor() {
    let buf = Aligned::new(INT8);
    let m = Model::load(buf.bytes()).expect("load");
    let mut arena = Aligned::zeroed(m.arena_size());
    m.set_input_f32(arena.bytes_mut(), &vec![0.5; m.input().len()]).expect("input");
    let mut seen = 0;
    m.run_observed(arena.bytes_mut(), &mut |i, a| {
        let t = m.tensor(m.op(i).out as usize);
        let mut v = vec![0f32; t.len()];
        m.tensor_f32(a, m.op(i).out as usize, &mut v).expect("tensor");
        seen += 1;
    })
    .expect("run");
    assert_eq!(seen, m.n_ops());
}

/// Re-seal the checksum after a change so the structural validator has to catch it.
fn reseal(b: &mut [u8]) {
    let end = (u32::from_le_bytes(b[16..20].try_into().unwrap()) as usize).min(b.len());
    let c = crc32(&b[HEADER_LEN..end.max(HEADER_LEN)]);
    b[format::header::CRC..format::header::CRC + 4].copy_from_slice(&c.to_le_bytes());
}

#[test]
fn resealed_corruptions_are_refused_or_run() {
    for (name, file) in [("all ops", INT8), ("new ops", NEW_INT8), ("new ops f32", NEW_F32), ("layout ops", LAYOUT_INT8), ("layout ops f32", LAYOUT_F32)] {
        let mut accepted = 0;
        for i in (0..file.len()).step_by(STRIDE) {
            for v in [file[i] ^ 0x01, file[i] ^ 0x80, 0xFF] {
                if v == file[i] {
                    continue;
                }
                let mut b = file.to_vec();
                b[i] = v;
                assert!(Model::load(Aligned::new(&b).bytes()).is_err(), "{name}: byte {i} = {v:#x} accepted");
                reseal(&mut b);
                // Under Miri only the validator runs (the kernels run in the tests above).
                let ok = if cfg!(miri) { Model::load(Aligned::new(&b).bytes()).is_ok() } else { load_and_run(&b).is_ok() };
                accepted += ok as usize;
            }
        }
        eprintln!("{name}: {accepted} re-sealed corruptions loaded and ran");
    }
}

/// Byte offset of the OPS section of `file`.
fn ops_section(file: &[u8]) -> usize {
    use kestrel_runtime::format::section;
    let n = u32::from_le_bytes(file[24..28].try_into().unwrap()) as usize;
    (0..n)
        .map(|i| HEADER_LEN + i * format::SECTION_ENTRY_LEN)
        .find(|&e| u32::from_le_bytes(file[e..e + 4].try_into().unwrap()) == section::OPS)
        .map(|e| u32::from_le_bytes(file[e + 4..e + 8].try_into().unwrap()) as usize)
        .expect("ops section")
}

/// `file` with `bytes` written at byte `at` of op record `i`, resealed, then loaded.
fn patch(file: &[u8], i: usize, at: usize, bytes: &[u8]) -> Result<(), Error> {
    let mut b = file.to_vec();
    let o = ops_section(file) + i * kestrel_runtime::format::op::LEN + at;
    b[o..o + bytes.len()].copy_from_slice(bytes);
    reseal(&mut b);
    Model::load(Aligned::new(&b).bytes()).map(|_| ())
}

/// Panics unless `r` is `BadOp` naming op `i`.
fn refused(r: Result<(), Error>, i: usize, what: &str) {
    match r {
        Err(Error::BadOp { index, .. }) if index == i => {}
        other => panic!("{what}: op {i}: {other:?}"),
    }
}

/// The new op records, each changed into what the decoder must refuse (an unknown or
/// malformed point-wise function, a function in an int8 model, a second input of the wrong
/// shape, a missing slope): each is `BadOp` naming the op, never a panic.
#[test]
fn malformed_new_op_records_are_typed_errors() {
    use kestrel_runtime::format::op;
    use kestrel_runtime::OpKind;
    let (f, i8b) = (Aligned::new(NEW_F32), Aligned::new(NEW_INT8));
    let (mf, mi) = (Model::load(f.bytes()).expect("f32"), Model::load(i8b.bytes()).expect("int8"));
    let kinds = |m: &Model<'_>, k: OpKind| (0..m.n_ops()).filter(|&i| m.op(i).op_kind() == Some(k)).collect::<Vec<_>>();
    let unary = kinds(&mf, OpKind::Unary);
    assert_eq!(unary.len(), 8, "f32 seed: every function (Swish fused) and the gate");
    for &i in &unary {
        refused(patch(NEW_F32, i, op::AUX, &99u32.to_le_bytes()), i, "unknown function");
        refused(patch(NEW_F32, i, op::ACT_A, &f32::NAN.to_le_bytes()), i, "NaN parameter");
        refused(patch(NEW_F32, i, op::ACT, &[1]), i, "fused activation on a function");
    }
    // A function record in an int8 model (in place of its lookup table).
    let lut = kinds(&mi, OpKind::Lut)[0];
    refused(patch(NEW_INT8, lut, op::KIND, &[OpKind::Unary as u8]), lut, "function in an int8 model");
    let sig = unary.iter().copied().find(|&i| mf.op(i).unary() == Some(kestrel_runtime::Unary::Sigmoid)).expect("sigmoid");
    refused(patch(NEW_F32, sig, op::ACT_B, &1f32.to_le_bytes()), sig, "unused parameter set");
    for (name, m, file) in [("f32", &mf, NEW_F32), ("int8", &mi, NEW_INT8)] {
        let mul = kinds(m, OpKind::Mul);
        assert_eq!(mul.len(), 1, "{name}: the excite Mul");
        // Swap the inputs: the full-size input must come first.
        let o = m.op(mul[0]);
        let (a, b) = (o.in0.to_le_bytes(), o.in1.to_le_bytes());
        refused(patch(file, mul[0], op::IN0, &[b[0], b[1], a[0], a[1]]), mul[0], &format!("{name}: swapped Mul inputs"));
        refused(patch(file, mul[0], op::IN1, &[0xFF, 0xFF]), mul[0], &format!("{name}: Mul without its second input"));
        let prelu = kinds(m, OpKind::PRelu);
        assert_eq!(prelu.len(), 1, "{name}: one PRelu");
        let blob = if name == "f32" { op::WEIGHTS } else { op::QUANT };
        refused(patch(file, prelu[0], blob + 4, &0u32.to_le_bytes()), prelu[0], &format!("{name}: PRelu without slopes"));
        refused(patch(file, prelu[0], op::KIND, &[OpKind::Mul as u8]), prelu[0], &format!("{name}: PRelu record as Mul"));
    }
}

/// The layout and normalization records (Pad, LRN, SoftmaxAxes, Copy), each changed into
/// what the decoder must refuse: each is `BadOp` naming the op, never a panic.
#[test]
fn malformed_layout_op_records_are_typed_errors() {
    use kestrel_runtime::format::op;
    use kestrel_runtime::OpKind;
    for (name, file) in [("f32", LAYOUT_F32), ("int8", LAYOUT_INT8)] {
        let buf = Aligned::new(file);
        let m = Model::load(buf.bytes()).expect(name);
        let one = |k: OpKind| {
            let v: Vec<usize> = (0..m.n_ops()).filter(|&i| m.op(i).op_kind() == Some(k)).collect();
            assert_eq!(v.len(), 1, "{name}: one {k:?} op");
            v[0]
        };
        let lrn = one(OpKind::Lrn);
        refused(patch(file, lrn, op::AUX, &0u32.to_le_bytes()), lrn, &format!("{name}: LRN size 0"));
        refused(patch(file, lrn, op::AUX, &70_000u32.to_le_bytes()), lrn, &format!("{name}: LRN size too large"));
        refused(patch(file, lrn, op::ACT_A, &1f32.to_le_bytes()), lrn, &format!("{name}: LRN unused field"));
        refused(patch(file, lrn, op::WEIGHTS + 4, &0u32.to_le_bytes()), lrn, &format!("{name}: LRN without parameters"));
        let sm = one(OpKind::SoftmaxAxes);
        for aux in [0u32, 0x13, 0x04, 0x40 | 3, 0x211] {
            refused(patch(file, sm, op::AUX, &aux.to_le_bytes()), sm, &format!("{name}: softmax axes {aux:#x}"));
        }
        // The channel softmax record takes no axes.
        let ch = one(OpKind::Softmax);
        refused(patch(file, ch, op::AUX, &0x11u32.to_le_bytes()), ch, &format!("{name}: channel softmax with axes"));
        let copy = one(OpKind::Copy);
        refused(patch(file, copy, op::WEIGHTS + 4, &0u32.to_le_bytes()), copy, &format!("{name}: copy without descriptor"));
        refused(patch(file, copy, op::KIND, &[OpKind::Lrn as u8]), copy, &format!("{name}: copy record as LRN"));
        let pad = one(OpKind::Pad);
        refused(patch(file, pad, op::KIND, &[OpKind::SoftmaxAxes as u8]), pad, &format!("{name}: pad record as softmax"));
    }
}

/// The output tensor's bytes after a run on kernel set `k`.
fn output_bytes(bytes: &[u8], k: &kestrel_runtime::kernels::Kernels) -> Result<Vec<u8>, Error> {
    let buf = Aligned::new(bytes);
    let m = Model::load(buf.bytes())?;
    let mut arena = Aligned::zeroed(m.arena_size());
    let x: Vec<f32> = (0..m.input().len()).map(|i| (i % 13) as f32 / 13.0 - 0.3).collect();
    m.set_input_f32(arena.bytes_mut(), &x)?;
    m.run_with(k, arena.bytes_mut())?;
    let t = m.output();
    Ok(arena.bytes()[t.offset..t.offset + t.size].to_vec())
}

/// A depthwise conv stored as `Conv2d` (files written before `DepthwiseConv2d` existed) and
/// the same op stored as `DepthwiseConv2d` run on every kernel set with the same output
/// bytes; a conv that is not depthwise is refused under the new kind.
#[test]
fn depthwise_kind_and_old_depthwise_conv_agree() {
    use kestrel_runtime::format::{op, section};
    use kestrel_runtime::OpKind;
    for (name, file) in [("int8", INT8), ("f32", F32)] {
        let n = u32::from_le_bytes(file[24..28].try_into().unwrap()) as usize;
        let ops = (0..n)
            .map(|i| HEADER_LEN + i * format::SECTION_ENTRY_LEN)
            .find(|&e| u32::from_le_bytes(file[e..e + 4].try_into().unwrap()) == section::OPS)
            .map(|e| u32::from_le_bytes(file[e + 4..e + 8].try_into().unwrap()) as usize)
            .expect("ops section");
        let buf = Aligned::new(file);
        let m = Model::load(buf.bytes()).expect("load");
        let mut renamed = 0;
        for i in (0..m.n_ops()).filter(|&i| m.op(i).op_kind() == Some(OpKind::Conv2d)) {
            let mut b = file.to_vec();
            b[ops + i * op::LEN + op::KIND] = OpKind::DepthwiseConv2d as u8;
            reseal(&mut b);
            let (o, x, y) = (m.op(i), m.tensor(m.op(i).in0 as usize), m.tensor(m.op(i).out as usize));
            let depthwise = o.groups as usize == x.dims[3] && x.dims[3] == y.dims[3];
            if !depthwise {
                assert!(Model::load(Aligned::new(&b).bytes()).is_err(), "{name}: op {i} is no depthwise conv");
                continue;
            }
            renamed += 1;
            for k in kestrel_runtime::kernels::available() {
                let old = output_bytes(file, k).expect("old file runs");
                assert_eq!(output_bytes(&b, k).expect("new kind runs"), old, "{name}: op {i}, {}", k.name);
            }
        }
        assert_eq!(renamed, 1, "{name}: the seed has one depthwise conv");
    }
}

#[test]
fn truncations_are_refused() {
    for len in (0..INT8.len()).step_by(STRIDE) {
        let buf = Aligned::new(&INT8[..len]);
        let e = Model::load(buf.bytes()).expect_err("truncation accepted");
        assert!(matches!(e, Error::Truncated { .. } | Error::BadSection { .. }), "len {len}: {e}");
    }
}

#[test]
fn misaligned_buffers_are_typed_errors() {
    let shifted = Aligned::shifted(INT8);
    let e = Model::load(&shifted.bytes()[1..]).expect_err("misaligned model");
    assert!(matches!(e, Error::ModelMisaligned { .. }), "{e}");
    let buf = Aligned::new(INT8);
    let m = Model::load(buf.bytes()).expect("load");
    let mut arena = Aligned::zeroed(m.arena_size() + 1);
    let e = m.run_with(&SCALAR, &mut arena.bytes_mut()[1..]).expect_err("misaligned arena");
    assert!(matches!(e, Error::ArenaMisaligned { .. }), "{e}");
    let e = m.run_with(&SCALAR, &mut arena.bytes_mut()[..m.arena_size() - 1]).expect_err("small arena");
    assert_eq!(e, Error::ArenaTooSmall { needed: m.arena_size(), got: m.arena_size() - 1 });
}

#[test]
fn work_per_inference_is_known_before_running() {
    // The compiler's count for the course's MNIST net (`kestrel zoo mnist_cnn_28`): 117,912 MACs.
    let buf = Aligned::new(MNIST);
    let m = Model::load(buf.bytes()).expect("load");
    assert_eq!(m.macs(), 117_912);
    // Pools, softmax and the rest add to the work, never less than the MACs.
    let w = m.work();
    assert!(w > m.macs() && w < 2 * m.macs(), "work {w}");
    // A model with no conv or dense still has work.
    let buf = Aligned::new(INT8);
    let t = Model::load(buf.bytes()).expect("load");
    assert!(t.work() >= t.macs() && t.work() > 0);
}

/// The META section's offset, from the section table.
fn meta_offset(b: &[u8]) -> usize {
    let rd = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    (0..rd(24)).map(|i| HEADER_LEN + i * format::SECTION_ENTRY_LEN).find(|&e| rd(e) == format::section::META as usize).map(|e| rd(e + 4)).expect("META")
}

#[test]
fn unknown_preprocessing_codes_are_named() {
    let at = meta_offset(INT8);
    for (field, what) in [(format::meta::CHANNEL_ORDER, "unknown channel order"), (format::meta::RESIZE, "unknown resize policy")] {
        let mut b = INT8.to_vec();
        b[at + field] = 3;
        reseal(&mut b);
        let e = Model::load(Aligned::new(&b).bytes()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains(what), "code 3 at META+{field}: {e:?}");
    }
}

#[test]
fn load_with_limits_refuses_an_arena_above_the_callers_limit() {
    let a = Aligned::new(MNIST);
    let m = Model::load(a.bytes()).expect("load");
    let need = m.arena_size();
    let at = kestrel_runtime::Limits { max_arena: need };
    assert!(Model::load_with_limits(a.bytes(), &at).is_ok(), "a limit of exactly the arena is enough");
    let below = kestrel_runtime::Limits { max_arena: need - 1 };
    match Model::load_with_limits(a.bytes(), &below) {
        Err(Error::ArenaTooLarge { needed, limit }) => assert_eq!((needed, limit), (need, need - 1)),
        other => panic!("expected ArenaTooLarge, got {other:?}"),
    }
    // A file whose plan claims a ~4 GiB arena (checksum resealed) is valid, and refused by
    // the limit before anyone allocates it.
    let mut big = Aligned::new(MNIST);
    let b = big.bytes_mut();
    let meta_off = (0..u32::from_le_bytes(b[24..28].try_into().unwrap()) as usize)
        .map(|i| HEADER_LEN + i * format::SECTION_ENTRY_LEN)
        .find(|&e| u32::from_le_bytes(b[e..e + 4].try_into().unwrap()) == format::section::META)
        .map(|e| u32::from_le_bytes(b[e + 4..e + 8].try_into().unwrap()) as usize)
        .expect("META section");
    let at = meta_off + format::meta::ARENA_SIZE;
    b[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    reseal(b);
    let huge = Model::load(big.bytes()).expect("a big plan is still a valid file");
    assert!(huge.arena_size() >= 0xFFFF_FFF0);
    let gib = kestrel_runtime::Limits { max_arena: 1 << 30 };
    assert!(matches!(Model::load_with_limits(big.bytes(), &gib), Err(Error::ArenaTooLarge { .. })));
}
