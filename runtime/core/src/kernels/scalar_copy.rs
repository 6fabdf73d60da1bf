//! Strided copy ([`crate::OpKind::Copy`]): a data-moving Transpose or Reshape, or a Slice.
//! The same code for int8 and f32 (bytes move, none change, so every target gives the same
//! output); every kernel set routes the op here.

use crate::ops::Strided;

/// `y[j] = x[base + sum(i[k] * strides[k])]`, `i` the multi-index of `j` over `s.dims`
/// (row-major; a stride may be negative). [`Strided::decode`] checked every index inside
/// `x` and `y.len()` equal to the product of the extents; the index arithmetic wraps, so a
/// descriptor built otherwise can't overflow, and an index outside `x` leaves `y[j]` as it
/// was.
pub fn strided_copy<T: Copy>(x: &[T], s: &Strided, y: &mut [T]) {
    let r = s.rank.clamp(1, s.dims.len());
    let (dims, strides) = (&s.dims[..r], &s.strides[..r]);
    let (inner, inner_stride) = (dims[r - 1], strides[r - 1]);
    if inner == 0 {
        return;
    }
    let mut idx = [0usize; crate::ops::COPY_MAX_RANK];
    let mut row = s.base;
    for out in y.chunks_mut(inner) {
        for (i, v) in out.iter_mut().enumerate() {
            if let Some(&e) = x.get(row.wrapping_add_signed((i as isize).wrapping_mul(inner_stride))) {
                *v = e;
            }
        }
        // Advance the outer axes (an odometer over dims[..r - 1]).
        for k in (0..r - 1).rev() {
            idx[k] += 1;
            row = row.wrapping_add_signed(strides[k]);
            if idx[k] < dims[k] {
                break;
            }
            row = row.wrapping_add_signed(strides[k].wrapping_mul(dims[k] as isize).wrapping_neg());
            idx[k] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::COPY_MAX_RANK;

    fn strided(base: usize, dims: &[usize], strides: &[isize]) -> Strided {
        let mut s = Strided { rank: dims.len(), base, dims: [0; COPY_MAX_RANK], strides: [0; COPY_MAX_RANK] };
        s.dims[..dims.len()].copy_from_slice(dims);
        s.strides[..dims.len()].copy_from_slice(strides);
        s
    }

    #[test]
    fn transpose_and_slice_match_index_arithmetic() {
        // A 2x3x4 tensor transposed to 4x2x3 (output axes = input axes 2, 0, 1).
        let x: Vec<i32> = (0..24).collect();
        let mut y = vec![0; 24];
        strided_copy(&x, &strided(0, &[4, 2, 3], &[1, 12, 4]), &mut y);
        for (j, &v) in y.iter().enumerate() {
            let (a, b, c) = (j / 6, (j / 3) % 2, j % 3);
            assert_eq!(v, (b * 12 + c * 4 + a) as i32);
        }
        // Rows 1..3 and every second column from 1 of a 4x5 map.
        let x: Vec<i32> = (0..20).collect();
        let mut y = vec![0; 4];
        strided_copy(&x, &strided(6, &[2, 2], &[5, 2]), &mut y);
        assert_eq!(y, [6, 8, 11, 13]);
        // The same rows backwards and columns 4, 2, 0 (a reversing Slice of both axes).
        let mut y = vec![0; 6];
        strided_copy(&x, &strided(14, &[2, 3], &[-5, -2]), &mut y);
        assert_eq!(y, [14, 12, 10, 9, 7, 5]);
    }

    #[test]
    fn descriptor_round_trips_and_refuses_out_of_range() {
        let s = strided(1, &[2, 3], &[4, 1]);
        let b = s.encode();
        assert_eq!(Strided::decode(&b, 8, 6), Some(s));
        // The last index read is 1 + 4 + 2 = 7: an input of 7 elements is too short.
        assert_eq!(Strided::decode(&b, 7, 6), None);
        assert_eq!(Strided::decode(&b, 8, 5), None);
        let mut bad = b;
        bad[0] = 7; // rank 7
        assert_eq!(Strided::decode(&bad, 8, 6), None);
        let mut bad = b;
        bad[4 * 5] = 1; // an unused extent set
        assert_eq!(Strided::decode(&bad, 8, 6), None);
        let huge = strided(0, &[2, 2], &[i32::MAX as isize, 1]).encode();
        assert_eq!(Strided::decode(&huge, 8, 4), None);
        // A stride that reads before the first element.
        let back = strided(1, &[2, 3], &[-2, 1]).encode();
        assert_eq!(Strided::decode(&back, 8, 6), None);
        assert_eq!(Strided::decode(&strided(1, &[2, 3], &[4, -1]).encode(), 8, 6), None);
        assert!(Strided::decode(&strided(3, &[2, 3], &[4, -1]).encode(), 8, 6).is_some());
        assert_eq!(Strided::decode(&strided(3, &[2, 3], &[4, -1]).encode(), 7, 6), None);
        assert_eq!(Strided::decode(&b[..8], 8, 6), None);
    }
}
