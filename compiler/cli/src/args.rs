//! Checks of the numbers users type, shared by every subcommand: each names the flag,
//! the accepted range and the value given.

use anyhow::{bail, Result};

/// Pixel scale (`--rescale`): 0..255 pixels times this.
pub const RESCALE: (f32, f32) = (1e-6, 1000.0);
/// Magnitude of a `--std` value.
pub const STD: (f32, f32) = (1e-6, 1e6);
/// Largest magnitude of a `--mean` value.
pub const MEAN_MAX: f32 = 1e6;

/// `flag` is a finite number in `[lo, hi]`.
pub fn in_range(flag: &str, v: f64, lo: f64, hi: f64) -> Result<()> {
    if !(v.is_finite() && v >= lo && v <= hi) {
        bail!("{flag} must be between {lo} and {hi}, not {v}");
    }
    Ok(())
}

/// `flag` is at least 1 (counts: `--top`, `--runs`, `--smooth`).
pub fn at_least_one(flag: &str, v: usize) -> Result<()> {
    if v == 0 {
        bail!("{flag} must be at least 1");
    }
    Ok(())
}

/// `--rescale`.
pub fn rescale(v: f32) -> Result<()> {
    in_range("--rescale", v as f64, RESCALE.0 as f64, RESCALE.1 as f64)
}

/// `--mean` / `--std` for a model with `c` input channels: 1 value (every channel) or `c`,
/// finite, `|std|` in [`STD`]; as the 4 per-channel slots of a `.kes`.
pub fn per_channel(v: &[f32], flag: &str, c: usize) -> Result<[f32; 4]> {
    if v.is_empty() || (v.len() != 1 && v.len() != c) || v.len() > 4 {
        let n = if c <= 4 && c > 1 { format!("1 or {c} comma-separated values") } else { "1 value".to_string() };
        bail!("{flag} takes {n} for this {c}-channel model, not {}", v.len());
    }
    for &x in v {
        if flag == "--std" {
            in_range(flag, x.abs() as f64, STD.0 as f64, STD.1 as f64).map_err(|_| anyhow::anyhow!("{flag} values must be between {} and {} in magnitude, not {x}", STD.0, STD.1))?;
        } else {
            in_range(flag, x as f64, -MEAN_MAX as f64, MEAN_MAX as f64)?;
        }
    }
    let mut o = [v[v.len() - 1]; 4];
    o[..v.len()].copy_from_slice(v);
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_counts() {
        assert!(rescale(1.0 / 255.0).is_ok());
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY, 1e-40] {
            assert!(rescale(bad).is_err(), "{bad}");
        }
        assert_eq!(per_channel(&[0.5], "--mean", 3).expect("one"), [0.5; 4]);
        assert_eq!(per_channel(&[1.0, 2.0, 3.0], "--mean", 3).expect("three"), [1.0, 2.0, 3.0, 3.0]);
        assert!(per_channel(&[1.0, 2.0], "--mean", 3).is_err());
        assert!(per_channel(&[1.0, 2.0, 3.0], "--mean", 1).is_err());
        assert!(per_channel(&[1e-40], "--std", 1).is_err());
        assert!(per_channel(&[f32::NAN], "--mean", 1).is_err());
    }
}
