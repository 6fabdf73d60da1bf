//! Sets `cfg(kestrel_arm_dsp)` when the target is an Arm core with the DSP extension
//! (Armv7E-M: Cortex-M4/M7, `thumbv7em-*`), which selects the `dsp` kernel set.
//!
//! Stable rustc doesn't expose Arm target features to `cfg(target_feature)` (`dsp` is
//! behind the unstable `arm_target_feature`), so the target name decides; a nightly build
//! or `-C target-feature=+dsp` on another Arm target is honoured through the features
//! cargo reports.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kestrel_arm_dsp)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let dsp_feature = features.split(',').any(|f| f == "dsp");
    if arch == "arm" && (target.starts_with("thumbv7em") || dsp_feature) {
        println!("cargo::rustc-cfg=kestrel_arm_dsp");
    }
}
