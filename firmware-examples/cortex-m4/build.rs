//! Embeds the model and test inputs, and sizes the static arena from the model itself.
//!
//! KESTREL_MODEL: the .kes to embed (default: the shipped Fashion-MNIST model if present,
//! else the mnist_cnn_28 reference model). KESTREL_SAMPLES: a directory of .npy inputs in
//! the model's source layout (default: the model folder's `samples_npy/`, else `samples/`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn npy_f32(b: &[u8]) -> Vec<f32> {
    assert!(b.len() > 10 && &b[..6] == b"\x93NUMPY", "not a .npy file");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).expect("npy header");
    assert!(header.contains("'<f4'"), "npy inputs must be float32");
    b[10 + hlen..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    fs::copy("memory.x", out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-env-changed=KESTREL_MODEL");
    println!("cargo:rerun-if-env-changed=KESTREL_SAMPLES");

    let model = env::var_os("KESTREL_MODEL").map(PathBuf::from).unwrap_or_else(|| {
        let fashion = root.join("models/fashion-mnist/model.kes");
        if fashion.exists() { fashion } else { root.join("models/mnist_cnn_28/model.kes") }
    });
    println!("cargo:rerun-if-changed={}", model.display());
    let bytes = fs::read(&model).unwrap_or_else(|e| panic!("cannot read model {}: {e}", model.display()));
    // Validate on the host now, so a bad model fails the build, not the board.
    #[repr(C, align(16))]
    struct A([u8; 16]);
    let mut aligned: Vec<A> = (0..bytes.len().div_ceil(16)).map(|_| A([0; 16])).collect();
    // SAFETY: `aligned` owns at least bytes.len() initialized bytes; A is plain u8 data.
    let view = unsafe { std::slice::from_raw_parts_mut(aligned.as_mut_ptr() as *mut u8, bytes.len()) };
    view.copy_from_slice(&bytes);
    let m = kestrel_runtime::Model::load(view).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    let arena = m.arena_size();
    let in_dims = m.input().dims;
    let n_in = m.input().len();
    fs::write(out.join("model.kes"), &bytes).unwrap();

    let samples = env::var_os("KESTREL_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let dir = model.parent().unwrap();
            if dir.join("samples_npy").is_dir() { dir.join("samples_npy") } else { dir.join("samples") }
        });
    println!("cargo:rerun-if-changed={}", samples.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&samples)
        .unwrap_or_else(|e| panic!("cannot read samples {}: {e}", samples.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .collect();
    files.sort();
    let mut raw = Vec::new();
    let mut names = Vec::new();
    let [_, h, w, c] = in_dims;
    for f in &files {
        let x = npy_f32(&fs::read(f).unwrap());
        assert_eq!(x.len(), n_in, "{} does not fit the model input", f.display());
        // .npy inputs are in the source (ONNX) layout; the runtime takes NHWC.
        let nhwc: Vec<f32> = if m.meta().preprocess.src_nchw {
            (0..n_in).map(|i| {
                let (pix, ch) = (i / c, i % c);
                x[ch * h * w + pix]
            }).collect()
        } else {
            x
        };
        raw.extend(nhwc.iter().flat_map(|v| v.to_le_bytes()));
        names.push(f.file_name().unwrap().to_string_lossy().to_string());
    }
    fs::write(out.join("samples.bin"), &raw).unwrap();
    let consts = format!(
        "/// Arena bytes the embedded model needs.\npub const ARENA_SIZE: usize = {arena};\n\
         /// Elements of one input.\npub const INPUT_LEN: usize = {n_in};\n\
         /// Embedded inputs.\npub const SAMPLES: [&str; {}] = {:?};\n\
         /// The embedded model's path on the build machine.\npub const MODEL_PATH: &str = {:?};\n",
        names.len(),
        names,
        model.display().to_string()
    );
    fs::write(out.join("consts.rs"), consts).unwrap();
}
