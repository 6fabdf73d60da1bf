//! The arena's lifetime rule, written once: the compiler's planner places tensors by it and
//! the validator checks a file's plan against it.
//!
//! Steps: the model input is written at step 0, op `i` runs at step `i + 1`, and the model
//! output stays live to step `n_ops + 1` (the caller reads it after the run). A tensor is
//! live from the first step that writes it to the last step that reads or writes it.

use crate::format::NO_TENSOR;

/// A tensor no op writes: its first step.
pub const UNWRITTEN: u16 = u16::MAX;

/// How a sequence of ops breaks the dataflow the rule needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// Op `index` reads a tensor no earlier step wrote.
    ReadBeforeWrite {
        /// Op index.
        index: usize,
    },
    /// Op `index` writes the model input.
    WritesInput {
        /// Op index.
        index: usize,
    },
    /// No op writes the model output.
    OutputNeverWritten,
}

/// Fill `first[t]` and `last[t]` (one entry per tensor, at least as many as the ops name)
/// for a model with `n_ops` ops, whose op `i` reads `io(i).0` and `io(i).1` (or
/// [`NO_TENSOR`]) and writes `io(i).2`. Tensors no op writes keep `first == UNWRITTEN`.
/// Tensor indices must be below `first.len()` and `last.len()` (the caller has checked them).
pub fn lifetimes(
    input: usize,
    output: usize,
    n_ops: usize,
    io: impl Fn(usize) -> (u16, u16, u16),
    first: &mut [u16],
    last: &mut [u16],
) -> Result<(), Broken> {
    first.fill(UNWRITTEN);
    last.fill(0);
    first[input] = 0;
    for i in 0..n_ops {
        let (in0, in1, out) = io(i);
        let step = (i + 1) as u16;
        for t in [in0, in1] {
            if t == NO_TENSOR {
                continue;
            }
            if first[t as usize] == UNWRITTEN {
                return Err(Broken::ReadBeforeWrite { index: i });
            }
            last[t as usize] = step;
        }
        let o = out as usize;
        if o == input {
            return Err(Broken::WritesInput { index: i });
        }
        if first[o] == UNWRITTEN {
            first[o] = step;
        }
        last[o] = last[o].max(step);
    }
    if first[output] == UNWRITTEN {
        return Err(Broken::OutputNeverWritten);
    }
    last[output] = n_ops as u16 + 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_and_errors() {
        // t0 (input) -> op0 -> t1 -> op1 -> t2 (output)
        let ops = [(0u16, NO_TENSOR, 1u16), (1, NO_TENSOR, 2)];
        let (mut f, mut l) = ([0u16; 3], [0u16; 3]);
        lifetimes(0, 2, 2, |i| ops[i], &mut f, &mut l).unwrap();
        assert_eq!((f, l), ([0, 1, 2], [1, 2, 3]));
        let bad = [(1u16, NO_TENSOR, 2u16)];
        assert_eq!(lifetimes(0, 2, 1, |i| bad[i], &mut f, &mut l), Err(Broken::ReadBeforeWrite { index: 0 }));
        let bad = [(0u16, NO_TENSOR, 0u16)];
        assert_eq!(lifetimes(0, 2, 1, |i| bad[i], &mut f, &mut l), Err(Broken::WritesInput { index: 0 }));
        assert_eq!(lifetimes(0, 2, 1, |i| ops[i], &mut f, &mut l), Err(Broken::OutputNeverWritten));
    }
}
