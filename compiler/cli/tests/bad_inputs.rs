//! The bad-input table: every way we know to hand `kestrel` a bad file, path or number,
//! one row each. A row is the command, the exit code, what stderr must say, the files that
//! must not exist afterwards and the files that must be unchanged. Each row runs in its
//! own copy of the fixture (see [`fixture`]), under a time limit and a memory cap, and is classed as
//! a clear error, a panic, a hang, a wrong success or data loss. The test prints the
//! table and the counts (SECURITY.md quotes them:
//! `cargo test -p kestrel-cli --test bad_inputs -- --nocapture`) and fails on any row
//! that is not as expected.
//!
//! CI runs as root: the fixture holds private device nodes (`mknod`) and a FIFO, so no
//! row ever points kestrel at the system's `/dev`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{repo, tmp};

/// One row. Paths in `cmd`, `absent` and `unchanged` are relative to the row's directory
/// (`cmd` is split on spaces; `@` is that directory, for paths kestrel is given whole).
struct Case {
    cmd: &'static str,
    code: i32,
    /// stderr contains each `|`-separated part.
    stderr: &'static str,
    absent: &'static [&'static str],
    unchanged: &'static [&'static str],
}

const fn row(cmd: &'static str, code: i32, stderr: &'static str, absent: &'static [&'static str], unchanged: &'static [&'static str]) -> Case {
    Case { cmd, code, stderr, absent, unchanged }
}

/// The table. Adding a case is one line.
const CASES: &[Case] = &[
    // Outputs that aren't a regular file of the command's own.
    row("compile m.onnx --calib calib -o null", 1, "null|character device", &[], &["null"]),
    row("compile m.onnx --calib calib -o full", 1, "full|character device", &[], &["full"]),
    row("compile m.onnx --calib calib -o fifo", 1, "fifo|FIFO", &[], &["fifo"]),
    row("compile m.onnx --calib calib -o dir", 1, "dir|a directory", &["dir.tmp-kestrel"], &["dir"]),
    row("compile m.onnx --calib calib -o m.onnx", 1, "is the input m.onnx", &[], &["m.onnx"]),
    row("compile m.onnx --calib calib -o hard.onnx", 1, "is the input m.onnx", &[], &["m.onnx"]),
    row("compile m.onnx --calib calib -o link.onnx", 1, "is the input m.onnx", &[], &["m.onnx", "link.onnx"]),
    row("compile m.onnx --calib calib -o x.kes --export-onnx m.onnx", 1, "is the input m.onnx", &["x.kes"], &["m.onnx"]),
    row("compile m.onnx --calib calib -o same --export-onnx same", 1, "also the output same", &["same"], &[]),
    row("compile m.onnx --calib calib -o calib/input_000.npy", 1, "is the input|input_000.npy", &[], &["calib/input_000.npy"]),
    row("compile m.onnx --calib calib --labels labels.txt -o labels.txt", 1, "is the input", &[], &["labels.txt"]),
    row("compile m.onnx --calib calib -o x.kes --export-onnx missing/q.onnx", 1, "missing|does not exist", &["x.kes", "missing"], &[]),
    row("compile m.onnx --calib calib -o x.kes --export-onnx null", 1, "character device", &["x.kes"], &["null"]),
    row("compile m.onnx --calib calib -o file.txt/x.kes", 1, "not a directory", &[], &["file.txt"]),
    row("sign m.kes --key key -o key", 1, "is the input key", &[], &["key", "m.kes"]),
    row("sign m.kes --key key -o m.kes", 1, "is the input m.kes", &[], &["m.kes"]),
    row("sign m.kes --key key -o null", 1, "character device", &[], &["null", "m.kes"]),
    row("keygen -o key", 1, "exists|refusing to overwrite", &[], &["key", "key.pub"]),
    row("zoo mnist_cnn_28 -o z.onnx --inputs file.txt", 1, "file.txt|not a directory", &["z.onnx"], &["file.txt"]),
    row("zoo mnist_cnn_28 -o dir", 1, "a directory", &[], &["dir"]),
    row("zoo mnist_cnn_28 -o fifo", 1, "FIFO", &[], &["fifo"]),
    row("bench m.onnx --markdown m.onnx", 1, "is the input m.onnx", &[], &["m.onnx"]),
    row("bench m.onnx --markdown null", 1, "character device", &[], &["null"]),
    row("eval labeled.kes --data classes --out file.txt", 1, "file.txt|not a directory", &[], &["file.txt"]),
    row("eval labeled.kes --data classes --out m.kes", 1, "m.kes|not a directory", &[], &["m.kes"]),
    row("eval labeled.kes --data classes --out fifo", 1, "fifo|a FIFO, not a directory", &[], &["fifo"]),
    row("train --data badimgs --arch mnist_cnn --epochs 1 --out run", 1, "", &["run"], &[]),
    row("train --data classes --arch mnist_cnn --epochs 1 --out file.txt", 1, "file.txt|exists", &[], &["file.txt"]),
    // Reads: regular files only, each kind within its limit, checked before reading.
    row("run m.kes zero", 1, "zero|not a regular file", &[], &[]),
    row("run m.kes fifo", 1, "fifo|not a regular file", &[], &["fifo"]),
    row("run zero sample.npy", 1, "zero|not a regular file", &[], &[]),
    row("run dir sample.npy", 1, "dir|directory", &[], &[]),
    row("run big.kes sample.npy", 1, "big.kes|limit of 1024 MiB", &[], &[]),
    row("run m.kes big.npy", 1, "big.npy|limit of 256 MiB", &[], &[]),
    row("compile m.onnx --calib calib --labels big.txt -o x.kes", 1, "big.txt|limit of 1 MiB", &["x.kes"], &[]),
    row("verify-signature signed.kes --pubkey big.txt", 1, "big.txt|limit of 4096 bytes", &[], &[]),
    row("compile zero --precision f32 -o x.kes", 1, "not a regular file", &["x.kes"], &[]),
    row("run arena.kes sample.npy", 1, "arena.kes|arena, above the limit", &[], &[]),
    row("run arena.kes sample.npy --max-arena-mib 0", 1, "above the limit of 0 bytes", &[], &[]),
    row("run m.kes sample.npy --threads 99999", 0, "note: --threads 99999", &[], &[]),
    row("run m.kes sample.npy --threads 0", 1, "--threads must be at least 1", &[], &[]),
    row("stream m.kes --source pattern --frames 2 --quiet --threads 99999", 0, "note: --threads 99999", &[], &[]),
    // Numbers: checked where they enter, with the range in the message.
    row("compile m.onnx --calib calib -o x.kes --rescale 0", 1, "--rescale must be between", &["x.kes"], &[]),
    row("compile m.onnx --calib calib -o x.kes --rescale=-1", 1, "--rescale must be between", &["x.kes"], &[]),
    row("compile m.onnx --calib calib -o x.kes --rescale inf", 1, "--rescale must be between", &["x.kes"], &[]),
    row("compile m.onnx --calib calib -o x.kes --std 1e-40", 1, "--std values must be between", &["x.kes"], &[]),
    row("compile m.onnx --calib calib -o x.kes --mean 1,2,3", 1, "--mean takes 1 value for this 1-channel model", &["x.kes"], &[]),
    row("compile m.onnx --calib calib -o x.kes --std 1,2", 1, "--std takes 1 value", &["x.kes"], &[]),
    row("compile m.onnx --calib calib -o x.kes --channels rgb", 1, "need a 3-channel model", &["x.kes"], &[]),
    row("compile cifar.onnx --precision f32 -o x.kes --mean 1,2", 1, "--mean takes 1 or 3", &["x.kes"], &[]),
    row("compile cifar.onnx --precision f32 -o x.kes --channels gray", 1, "--channels gray needs a 1-channel model", &["x.kes"], &[]),
    row("compile m.onnx --calib calib -o x.kes --percentile 101 --method percentile", 1, "--percentile", &["x.kes"], &[]),
    row("compile m.onnx --calib calib --labels empty.txt -o x.kes", 1, "empty.txt|no labels", &["x.kes"], &[]),
    row("compile m.onnx --calib calib --labels two.txt -o x.kes", 1, "2 labels|10 outputs", &["x.kes"], &[]),
    row("run m.kes sample.npy -k 0", 1, "--top must be at least 1", &[], &[]),
    row("bench m.onnx --runs 0", 1, "--runs must be at least 1", &[], &[]),
    row("bench m.onnx --time NaN", 1, "--time must be between", &[], &[]),
    row("train --data classes --arch mnist_cnn --validation-split 1.5 --out run", 1, "--validation-split must be between 0 and 0.9", &["run"], &[]),
    row("stream m.kes --source pattern --frames 1 --hysteresis=-1", 1, "--hysteresis must be between 0 and 1", &[], &[]),
    row("stream m.kes --source pattern --frames 1 --save alerts", 1, "--save|needs --out", &[], &[]),
    row("stream m.kes --source pattern --frames 3 --quiet --out frames", 1, "already holds 1 saved frame", &["frames/frame_000002.jpg"], &["frames/frame_000001.jpg"]),
    row("stream m.kes --source pattern --frames 1 --smooth 0", 1, "--smooth must be at least 1", &[], &[]),
    row("eval labeled.kes --data classes --limit 0 --out ev", 1, "--limit must be at least 1", &["ev"], &[]),
    row("compile", 2, "required", &[], &[]),
    // NaN and infinity: inputs, weights, calibration data.
    row("run m.kes nan.npy", 1, "nan.npy|NaN|must be finite", &[], &[]),
    row("run m.kes inf.npy", 1, "inf.npy|inf|must be finite", &[], &[]),
    row("compile nanw.onnx --calib calib -o x.kes", 1, "nanw.onnx|weights must be finite", &["x.kes"], &[]),
    row("compile nanw.onnx --precision f32 -o x.kes", 1, "weights must be finite", &["x.kes"], &[]),
    row("compile m.onnx --calib nancalib -o x.kes", 1, "NaN|must be finite", &["x.kes"], &[]),
    // .npy layouts: the model's ONNX shape, or a layout said with a flag.
    row("run cifar.kes nhwc.npy", 1, "nhwc.npy|[1, 32, 32, 3]|--npy-layout", &[], &[]),
    row("run cifar.kes nhwc.npy --npy-layout nhwc", 0, "", &[], &[]),
    row("run cifar.kes nchw.npy", 0, "", &[], &[]),
    row("run cifar.kes flat.npy", 1, "flat.npy|[3072]", &[], &[]),
    row("run cifar.kes flat.npy --npy-layout flat", 0, "", &[], &[]),
    row("run cifar.kes sample.npy --npy-layout nhwc", 1, "sample.npy|does not fit", &[], &[]),
    // Signatures: unchecked ones are said; broken blocks refused.
    row("run signed.kes sample.npy", 0, "warning: |signed|not checked without --pubkey", &[], &[]),
    row("run tampered.kes sample.npy", 0, "warning: |not checked without --pubkey", &[], &[]),
    row("run tampered.kes sample.npy --pubkey key.pub", 1, "signature", &[], &[]),
    row("run badsig.kes sample.npy", 1, "badsig.kes|signature block", &[], &[]),
    row("run m.kes sample.npy", 0, "", &[], &[]),
    // Smaller: one unreadable input among several; a .kes by another name.
    row("run m.kes sample.npy broken.png sample.npy", 1, "1 of 3 inputs could not be read|broken.png", &[], &[]),
    row("run m.kes digit.png", 0, "note: images are preprocessed as m.kes says: stretch to 28x28, gray", &[], &[]),
    row("inspect kes.onnx", 0, "", &[], &[]),
    // eval: class folders matched to the model's labels by name.
    row("eval labeled.kes --data strangers --out ev", 1, "'cat'|match none of the model's labels", &["ev"], &[]),
    row("eval labeled.kes --data classes --out ev --labels empty.txt", 1, "no labels", &["ev"], &[]),
];

/// What happened in one row.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// As the row says: the exit code, the message, the files.
    Clear,
    Panic,
    Hang,
    /// Exit 0 where the row wants a failure.
    WrongSuccess,
    /// A file the row protects changed, or one it forbids exists (temp files included).
    DataLoss,
    /// Failed, but not with the row's code and message.
    WrongMessage,
}

/// Time limit of one row.
const LIMIT: Duration = Duration::from_secs(60);
/// Address space of one row, KiB.
const MEMORY_CAP_KIB: u64 = 4 << 20;

/// Fingerprint of a file for "unchanged": type, device number, symlink target, content.
fn fingerprint(p: &Path) -> Option<(String, Vec<u8>)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata(p).ok()?;
    let t = m.file_type();
    Some(if t.is_symlink() {
        ("link".into(), std::fs::read_link(p).ok()?.into_os_string().into_encoded_bytes())
    } else if t.is_char_device() || t.is_block_device() {
        (format!("dev {}", m.rdev()), vec![])
    } else if t.is_fifo() {
        ("fifo".into(), vec![])
    } else if t.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(p).ok()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        ("dir".into(), names.join("\n").into_bytes())
    } else {
        ("file".into(), std::fs::read(p).ok()?)
    })
}

/// Temp files kestrel may have left anywhere under `d`.
fn litter(d: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.contains(".kestrel-") || name.contains("tmp-kestrel") || name.ends_with(".partial") {
            out.push(p.clone());
        }
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            litter(&p, out);
        }
    }
}

fn run_case(c: &Case, template: &Path, dir: &Path) -> (Outcome, String) {
    let st = Command::new("cp").arg("-a").arg(template).arg(dir).status().expect("cp -a");
    assert!(st.success(), "copy the fixture");
    let before: Vec<_> = c.unchanged.iter().map(|f| fingerprint(&dir.join(f))).collect();
    let args: Vec<String> = c.cmd.split_whitespace().map(|a| a.replace('@', &dir.display().to_string())).collect();
    // Under a 4 GiB address-space cap: a reader that grows without bound fails here (as a
    // panic or abort) instead of taking the machine's memory.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", MEMORY_CAP_KIB))
        .arg(binary())
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kestrel");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if t0.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    let err = err.trim_end().to_string();
    let Some(status) = status else { return (Outcome::Hang, err) };
    if err.contains("internal error") || err.contains("panicked") || status.code().is_none() {
        return (Outcome::Panic, err);
    }
    // A protected file changed or a temp left: data loss. A forbidden output written by a
    // command that should have failed and didn't: a wrong success; by one that failed: a
    // partial output left behind, data loss.
    let code = status.code().unwrap_or(-1);
    let mut lost = Vec::new();
    for (f, b) in c.unchanged.iter().zip(&before) {
        if fingerprint(&dir.join(f)) != *b {
            lost.push(format!("{f} changed"));
        }
    }
    let mut left = Vec::new();
    litter(dir, &mut left);
    lost.extend(left.iter().map(|p| format!("{} left behind", p.display())));
    let written: Vec<String> = c.absent.iter().filter(|f| std::fs::symlink_metadata(dir.join(f)).is_ok()).map(|f| format!("{f} exists")).collect();
    if !lost.is_empty() || (!written.is_empty() && code != 0) {
        lost.extend(written);
        return (Outcome::DataLoss, format!("{}; stderr: {err}", lost.join(", ")));
    }
    if code == 0 && c.code != 0 {
        return (Outcome::WrongSuccess, format!("{}{err}", written.iter().map(|w| format!("{w}; ")).collect::<String>()));
    }
    let one_line = c.code == 0 || (err.lines().count() == 1 && err.starts_with("error: "));
    if code != c.code || !one_line || !c.stderr.split('|').all(|n| err.contains(n)) {
        return (Outcome::WrongMessage, format!("exit {code}: {err}"));
    }
    (Outcome::Clear, err)
}

/// The `kestrel` under test: this build's, or `KESTREL_BIN` (to measure another build, e.g.
/// an older one, against the same table: `KESTREL_BIN=... cargo test ... -- --nocapture`).
fn binary() -> PathBuf {
    std::env::var_os("KESTREL_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kestrel")))
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "fixture: {cmd}");
}

/// The files every row starts from.
fn fixture(d: &Path) {
    let m = repo().join("models/mnist_cnn_28");
    let s = |p: &Path| p.display().to_string();
    std::fs::copy(m.join("model.onnx"), d.join("m.onnx")).expect("model");
    std::fs::copy(m.join("labels.txt"), d.join("labels.txt")).expect("labels");
    std::fs::copy(repo().join("tests/golden/mnist_cnn_28.int8.kes"), d.join("m.kes")).expect("golden kes");
    std::fs::copy(m.join("model.kes"), d.join("labeled.kes")).expect("shipped kes (with labels)");
    std::fs::copy(d.join("m.kes"), d.join("kes.onnx")).expect("kes by another name");
    sh(&format!("cp -r {} {}/calib", s(&m.join("calib")), s(d)));
    std::fs::hard_link(d.join("m.onnx"), d.join("hard.onnx")).expect("hard link");
    std::os::unix::fs::symlink("m.onnx", d.join("link.onnx")).expect("symlink");
    std::fs::create_dir(d.join("dir")).expect("dir");
    std::fs::write(d.join("file.txt"), "keep me\n").expect("file");
    std::fs::create_dir(d.join("frames")).expect("frames");
    std::fs::write(d.join("frames/frame_000001.jpg"), "an earlier run's frame\n").expect("earlier frame");
    std::fs::write(d.join("broken.png"), b"\x89PNG\r\n\x1a\nnot a png").expect("broken png");
    image::GrayImage::from_fn(40, 30, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8])).save(d.join("digit.png")).expect("png");
    // Private device nodes (root only) and a FIFO: /dev/null, /dev/full, /dev/zero alike.
    sh(&format!("cd {} && mknod null c 1 3 && mknod full c 1 7 && mknod zero c 1 5 && mkfifo fifo", s(d)));
    let k = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_kestrel")).args(args).current_dir(d).output().expect("kestrel");
        assert!(o.status.success(), "fixture: kestrel {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    k(&["keygen", "-o", "key"]);
    k(&["sign", "m.kes", "--key", "key", "-o", "signed.kes"]);
    let signed = std::fs::read(d.join("signed.kes")).expect("signed");
    let mut t = signed.clone();
    let n = t.len();
    t[n - 1] ^= 1; // the signature itself: only the public key can tell
    std::fs::write(d.join("tampered.kes"), &t).expect("tampered");
    let mut b = signed.clone();
    b[n - 88] ^= 0xff; // the block's magic
    std::fs::write(d.join("badsig.kes"), &b).expect("badsig");
    std::fs::copy(repo().join("tests/golden/cifar_cnn_32.int8.kes"), d.join("cifar.kes")).expect("cifar kes");
    k(&["zoo", "cifar_cnn_32", "-o", "cifar.onnx"]);
    // Files larger than their kind's limit (sparse: nothing is written).
    for (f, len) in [("big.kes", 1024u64 << 20), ("big.npy", 256 << 20), ("big.txt", 1 << 20)] {
        std::fs::File::create(d.join(f)).and_then(|h| h.set_len(len + 1)).expect("sparse file");
    }
    std::fs::write(d.join("empty.txt"), "\n\n").expect("empty labels");
    std::fs::write(d.join("two.txt"), "a\nb\n").expect("two labels");
    // A valid .kes whose plan claims a ~4 GiB arena (checksum resealed).
    let mut a = std::fs::read(d.join("m.kes")).expect("kes");
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    let meta = (0..u32_at(&a, 24)).map(|i| 64 + 16 * i).find(|&e| u32_at(&a, e) == 1).map(|e| u32_at(&a, e + 4)).expect("META");
    a[meta + 12..meta + 16].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let end = u32_at(&a, 16);
    let crc = kestrel_runtime::crc32(&a[64..end]);
    a[20..24].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(d.join("arena.kes"), &a).expect("arena");
    // .npy inputs: the shipped sample, NaN and infinity, and the CIFAR input in three layouts.
    std::fs::copy(m.join("samples/sample_0.npy"), d.join("sample.npy")).expect("sample");
    let npy = kestrel_compiler::data::write_npy;
    let mut x = vec![0.5f32; 28 * 28];
    x[17] = f32::NAN;
    std::fs::write(d.join("nan.npy"), npy(&[1, 1, 28, 28], &x)).expect("nan");
    x[17] = f32::INFINITY;
    std::fs::write(d.join("inf.npy"), npy(&[1, 1, 28, 28], &x)).expect("inf");
    std::fs::create_dir(d.join("nancalib")).expect("nancalib");
    std::fs::copy(d.join("calib/input_000.npy"), d.join("nancalib/a.npy")).expect("calib");
    std::fs::copy(d.join("nan.npy"), d.join("nancalib/b.npy")).expect("calib");
    let c: Vec<f32> = (0..3 * 32 * 32).map(|i| (i % 97) as f32 / 97.0).collect();
    std::fs::write(d.join("nchw.npy"), npy(&[1, 3, 32, 32], &c)).expect("nchw");
    std::fs::write(d.join("nhwc.npy"), npy(&[1, 32, 32, 3], &c)).expect("nhwc");
    std::fs::write(d.join("flat.npy"), npy(&[3 * 32 * 32], &c)).expect("flat");
    // A model with one NaN weight.
    let mut g = kestrel_compiler::zoo::build("mnist_cnn_28", 1).expect("zoo");
    let w = g.nodes.iter_mut().find_map(|n| match &mut n.op {
        kestrel_compiler::ir::NodeOp::Conv { weight, .. } => Some(weight),
        _ => None,
    });
    w.expect("a conv")[3] = f32::NAN;
    let onnx = kestrel_compiler::onnx::pb_util::encode(&kestrel_compiler::onnx::export::export_float(&g));
    std::fs::write(d.join("nanw.onnx"), onnx).expect("nan weights");
    // A class-folder data set (eval), one whose every image is broken (train) and one
    // whose folders are no class of the model.
    for (i, (l, other)) in [("digit_0", "cat"), ("digit_1", "dog")].iter().enumerate() {
        let o = d.join("strangers").join(other);
        std::fs::create_dir_all(&o).expect("stranger dir");
        image::GrayImage::new(28, 28).save(o.join("a.png")).expect("png");
        let c = d.join("classes").join(l);
        std::fs::create_dir_all(&c).expect("class dir");
        image::GrayImage::from_fn(28, 28, |x, y| image::Luma([((x * 9 + y * (i as u32 + 2)) % 256) as u8])).save(c.join("a.png")).expect("png");
        let b = d.join("badimgs").join(l);
        std::fs::create_dir_all(&b).expect("bad dir");
        std::fs::write(b.join("a.png"), b"\x89PNG\r\n\x1a\nnot a png").expect("bad png");
    }
}

#[test]
fn bad_input_table() {
    let root = tmp("table");
    let template = root.join("fixture");
    std::fs::create_dir_all(&template).expect("template");
    fixture(&template);
    let mut results = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let dir = root.join(format!("case{i:03}"));
        let (o, detail) = run_case(c, &template, &dir);
        results.push((c, o, detail));
        let _ = std::fs::remove_dir_all(&dir);
    }
    let count = |o: Outcome| results.iter().filter(|r| r.1 == o).count();
    println!("bad-input table: {} cases", results.len());
    println!(
        "clear errors {} | panics {} | hangs {} | wrong successes {} | data loss {} | wrong message {}",
        count(Outcome::Clear),
        count(Outcome::Panic),
        count(Outcome::Hang),
        count(Outcome::WrongSuccess),
        count(Outcome::DataLoss),
        count(Outcome::WrongMessage)
    );
    let bad: Vec<String> = results.iter().filter(|r| r.1 != Outcome::Clear).map(|(c, o, d)| format!("  {o:?}: kestrel {}\n      {d}", c.cmd)).collect();
    if std::env::var_os("KESTREL_TABLE").is_some() {
        for (c, o, d) in &results {
            println!("{o:?}\tkestrel {}\t{d}", c.cmd);
        }
    }
    if std::env::var_os("KESTREL_BIN").is_some() {
        println!("(KESTREL_BIN: another build measured, not judged)\n{}", bad.join("\n"));
        return;
    }
    assert!(bad.is_empty(), "{} of {} rows not as expected:\n{}", bad.len(), results.len(), bad.join("\n"));
    let _ = std::fs::remove_dir_all(&root);
}
