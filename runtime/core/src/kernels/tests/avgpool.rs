//! Average pools on every kernel set against the scalar reference: channel counts around
//! the 32-lane block, windows from 1x1 to global (the whole map), strides, dilation,
//! asymmetric padding with and without `count_include_pad`, any zero point, and the row
//! splits threads make. int8 and f32 both with exact equality (the lane kernels sum in the
//! reference's order).

use super::*;

#[test]
fn avgpool_matches_reference() {
    for seed in 0..300u64 {
        let mut r = Rng(seed.wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1);
        let c = r.pick(&[1, 3, 8, 16, 31, 32, 33, 64, 65, 100, 512]);
        let global = r.below(4) == 0;
        let (ih, iw) = (r.range(1, 13) as usize, r.range(1, 15) as usize);
        let g = if global {
            Geom { ih, iw, ic: c, oh: 1, ow: 1, oc: c, kh: ih, kw: iw, sh: 1, sw: 1, dh: 1, dw: 1, pt: 0, pl: 0, groups: 1 }
        } else {
            let (kh, kw) = r.pick(&[(2, 2), (3, 3), (1, 1), (2, 3), (5, 5)]);
            let (sh, sw) = r.pick(&[(1, 1), (2, 2), (3, 2)]);
            let (dh, dw) = r.pick(&[(1, 1), (1, 1), (2, 1)]);
            let (eh, ew) = ((kh - 1) * dh + 1, (kw - 1) * dw + 1);
            let (ih, iw) = (ih.max(eh), iw.max(ew));
            let (pt, pl, pb, pr) = (r.below(kh), r.below(kw), r.below(kh), r.below(kw));
            let (oh, ow) = ((ih + pt + pb - eh) / sh + 1, (iw + pl + pr - ew) / sw + 1);
            Geom { ih, iw, ic: c, oh, ow, oc: c, kh, kw, sh, sw, dh, dw, pt, pl, groups: 1 }
        };
        let incl = r.below(2) == 0;
        let zx = r.range(-128, 127);
        let x = r.i8s(g.ih * g.iw * c, -128, 127);
        let xf: Vec<f32> = x.iter().map(|&v| v as f32 * 0.37).collect();
        let len = g.oh * g.ow * c;
        let (mut want, mut want_f) = (vec![0i8; len], vec![0f32; len]);
        scalar_avgpool_i8(&g, incl, zx, &x, 0, &mut want);
        scalar_avgpool_f32(&g, incl, &xf, 0, &mut want_f);
        for k in sets() {
            for parts in row_parts(g.oh, &mut r) {
                let (mut got, mut got_f) = (vec![0i8; len], vec![f32::NAN; len]);
                for &(a0, a1) in &parts {
                    let (s, e) = (a0 * g.ow * c, a1 * g.ow * c);
                    (k.avgpool_i8)(&g, incl, zx, &x, a0, &mut got[s..e]);
                    (k.avgpool_f32)(&g, incl, &xf, a0, &mut got_f[s..e]);
                }
                same(&got, &want, format_args!("{} avgpool_i8: seed {seed}, {g:?}, incl {incl}, zx {zx}, parts {parts:?}", k.name));
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got_f), bits(&want_f), "{} avgpool_f32: seed {seed}, {g:?}, incl {incl}", k.name);
            }
        }
    }
}
