//! Element-wise multiply on every kernel set against the scalar reference: same-shape and
//! per-channel (`[1, 1, 1, C]`) second inputs, channel counts around the 8-lane block, any
//! zero points, multipliers that round to ties, fused clamp ranges. int8 with `assert_eq!`,
//! f32 bit for bit (one IEEE multiply per output on every set). The reference itself is
//! checked against the rule written in f64.

use super::*;

/// The multiply rule in f64 (no f32 rounding of the scaled product): within half an LSB
/// of the reference, except where the two roundings straddle a tie.
fn rule_f64(a: i8, b: i8, m: &MulI8<'_>) -> f64 {
    let v = ((a as i32 - m.za) * (b as i32 - m.zb)) as f64 * m.mult as f64;
    v.round().clamp((m.q.lo - m.q.zy) as f64, (m.q.hi - m.q.zy) as f64) + m.q.zy as f64
}

#[test]
fn mul_matches_reference() {
    for seed in 0..400u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let c = r.pick(&[1, 3, 7, 8, 9, 16, 24, 31, 33, 96, 240]);
        let pixels = r.range(1, 40) as usize;
        let per_channel = r.below(2) == 0;
        let n = pixels * c;
        let a = r.i8s(n, -128, 127);
        let b = r.i8s(if per_channel { c } else { n }, -128, 127);
        let mult = if r.below(4) == 0 { 1.0 / 64.0 } else { (0.1 + r.f32()) / 128.0 };
        let m = MulI8 { a: &a, za: r.range(-128, 127), b: &b, zb: r.range(-128, 127), mult, q: random_q(&mut r) };
        let mut want = vec![0i8; n];
        scalar_mul_i8(&m, &mut want);
        for (i, &w) in want.iter().enumerate() {
            let exact = rule_f64(a[i], b[i % b.len()], &m);
            assert!((w as f64 - exact).abs() <= 1.0, "seed {seed}: reference {w} vs f64 rule {exact} at {i}");
        }
        let (af, bf): (Vec<f32>, Vec<f32>) = (a.iter().map(|&v| v as f32 * 0.03).collect(), b.iter().map(|&v| v as f32 * 0.11).collect());
        let mut want_f = vec![0f32; n];
        scalar_mul_f32(&af, &bf, &mut want_f);
        assert_eq!(want_f[n - 1], af[n - 1] * bf[(n - 1) % bf.len()]);
        for k in sets() {
            let mut got = vec![0i8; n];
            (k.mul_i8)(&m, &mut got);
            same(&got, &want, format_args!("{} mul_i8: seed {seed}, c {c}, pixels {pixels}, per_channel {per_channel}, {m:?}", k.name));
            let mut got_f = vec![f32::NAN; n];
            (k.mul_f32)(&af, &bf, &mut got_f);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got_f), bits(&want_f), "{} mul_f32: seed {seed}", k.name);
        }
    }
}
