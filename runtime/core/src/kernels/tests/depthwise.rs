//! Depthwise convolutions (`groups == ic == oc`) on every kernel set, through both the
//! depthwise slot (`dwconv2d_*`) and the general conv slot, against the scalar reference:
//! channel counts around the 32-lane block (tails), kernels 1x1 to 7x7 and a 9x9 that the
//! channel-lane kernel leaves to the scalar reference, strides, dilation, asymmetric
//! padding, PLAIN and BLOCKED weights, and the row splits threads make. int8 with
//! `assert_eq!`, f32 within the error budget of `tests.rs`.

use super::*;

fn random_dw_geom(r: &mut Rng) -> Geom {
    let c = r.pick(&[1, 3, 8, 16, 24, 31, 32, 33, 63, 64, 65, 96, 100, 144]);
    let (kh, kw) = r.pick(&[(3, 3), (3, 3), (3, 3), (5, 5), (1, 1), (7, 7), (3, 1), (2, 3), (9, 9)]);
    let (sh, sw) = r.pick(&[(1, 1), (1, 1), (2, 2), (1, 2)]);
    let (dh, dw) = r.pick(&[(1, 1), (1, 1), (1, 1), (2, 2)]);
    let (pt, pl) = (r.below(kh), r.below(kw));
    let (pb, pr) = (r.below(kh), r.below(kw));
    let (eh, ew) = (((kh - 1) * dh + 1) as i32, ((kw - 1) * dw + 1) as i32);
    let ih = r.range(eh, eh.max(14)) as usize;
    let iw = r.range(ew, ew.max(17)) as usize;
    let oh = (ih + pt + pb - ((kh - 1) * dh + 1)) / sh + 1;
    let ow = (iw + pl + pr - ((kw - 1) * dw + 1)) / sw + 1;
    Geom { ih, iw, ic: c, oh, ow, oc: c, kh, kw, sh, sw, dh, dw, pt, pl, groups: c }
}

#[test]
fn depthwise_i8_matches_reference() {
    for seed in 0..300u64 {
        let mut r = Rng(seed.wrapping_mul(0xD6E8_FEB8_6659_FD93) | 1);
        let g = random_dw_geom(&mut r);
        let taps = g.kh * g.kw;
        let x = r.i8s(g.ih * g.iw * g.ic, -128, 127);
        // Full-range weights (-128 too): the i16 products must stay exact at the extremes.
        let w_plain = r.i8s(g.oc * taps, -128, 127);
        let w_blk = pack_blocked(&w_plain, &Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, true));
        let bias: Vec<i32> = (0..g.oc).map(|_| r.range(-40_000, 40_000)).collect();
        let mult = random_mults(&mut r, g.oc, taps);
        let any = r.range(-128, 127);
        let zx = r.pick(&[-128, 127, 0, any]);
        let q = random_q(&mut r);
        let plain = ConvI8 { g, x: &x, zx, w: &w_plain, packing: packing::PLAIN, bias: &bias, mult: &mult, q };
        let blocked = ConvI8 { w: &w_blk, packing: packing::BLOCKED, ..plain };
        let len = g.oh * g.ow * g.oc;
        let mut want = vec![0i8; len];
        scalar_conv2d_i8(&plain, 0, &mut want);
        for k in sets() {
            type Slot<'s> = &'s dyn Fn(&ConvI8<'_>, usize, &mut [i8]);
            let slots: [(&str, Slot<'_>); 2] = [
                ("dwconv2d", &|a, o, y| (k.dwconv2d_i8)(a, o, y)),
                ("conv2d", &|a, o, y| (k.conv2d_i8)(a, o, y, &mut super::scratch(k.conv2d_i8_scratch, &a.g))),
            ];
            for (slot, kernel) in slots {
                for args in [&plain, &blocked] {
                    for parts in row_parts(g.oh, &mut r) {
                        let mut got = vec![0i8; len];
                        for &(a0, a1) in &parts {
                            kernel(args, a0, &mut got[a0 * g.ow * g.oc..a1 * g.ow * g.oc]);
                        }
                        let pk = args.packing;
                        same(&got, &want, format_args!("{} {slot} i8: seed {seed}, {g:?}, packing {pk}, zx {zx}, {q:?}, parts {parts:?}", k.name));
                    }
                }
            }
        }
    }
}

#[test]
fn depthwise_f32_within_budget() {
    for seed in 0..200u64 {
        let mut r = Rng(seed.wrapping_mul(0x94D0_49BB_1331_11EB) | 1);
        let g = random_dw_geom(&mut r);
        let taps = g.kh * g.kw;
        let x = f32s(&mut r, g.ih * g.iw * g.ic);
        let w_plain = f32s(&mut r, g.oc * taps);
        let w_blk = pack_blocked(&w_plain, &Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, false));
        let bias = f32s(&mut r, g.oc);
        let act = random_act(&mut r);
        let plain = ConvF32 { g, x: &x, w: &w_plain, packing: packing::PLAIN, bias: &bias, act };
        let blocked = ConvF32 { w: &w_blk, packing: packing::BLOCKED, ..plain };
        let len = g.oh * g.ow * g.oc;
        let mut want = vec![0f32; len];
        scalar_conv2d_f32(&plain, 0, &mut want);
        let mag = conv_f32_magnitudes(&plain);
        // The depthwise reference is the general one's arithmetic: the same bits.
        for args in [&plain, &blocked] {
            let (mut general, mut dw) = (vec![0f32; len], vec![f32::NAN; len]);
            scalar_conv2d_f32(args, 0, &mut general);
            scalar_dwconv2d_f32(args, 0, &mut dw);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
            assert_eq!(bits(&dw), bits(&general), "scalar dwconv2d f32 vs conv2d: seed {seed}, {g:?}, packing {}", args.packing);
        }
        for k in sets() {
            type Slot<'s> = &'s dyn Fn(&ConvF32<'_>, usize, &mut [f32]);
            let slots: [(&str, Slot<'_>); 2] = [
                ("dwconv2d", &|a, o, y| (k.dwconv2d_f32)(a, o, y)),
                ("conv2d", &|a, o, y| (k.conv2d_f32)(a, o, y, &mut super::scratch(k.conv2d_f32_scratch, &a.g))),
            ];
            for (slot, kernel) in slots {
                for args in [&plain, &blocked] {
                    for parts in row_parts(g.oh, &mut r) {
                        let mut got = vec![f32::NAN; len];
                        for &(a0, a1) in &parts {
                            kernel(args, a0, &mut got[a0 * g.ow * g.oc..a1 * g.ow * g.oc]);
                        }
                        within_budget(&got, &want, &mag, taps + 1, format_args!("{} {slot} f32: seed {seed}, {g:?}, {act:?}", k.name));
                    }
                }
            }
        }
    }
}
