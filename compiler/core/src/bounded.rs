//! The one way kestrel reads a whole file: a stated limit per kind of file, checked
//! before reading, and only regular files (a device such as `/dev/zero` or a FIFO is
//! refused before it is opened, so neither can grow memory or block). SECURITY.md quotes
//! [`Kind::limit`].

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// What a file is, which sets how large it may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A `.kes` model (VGG16 int8 is ~140 MB).
    Kes,
    /// An ONNX model (protobuf itself stops at 2 GiB; VGG16 float is ~530 MB).
    Onnx,
    /// An encoded image (png/jpg); the decoder bounds the decoded size separately.
    Image,
    /// A `.npy` tensor.
    Npy,
    /// A labels file (one class name per line).
    Labels,
    /// A signing key file (one line).
    Key,
    /// A small JSON file kestrel wrote (a run's `config.json`).
    Json,
}

const MIB: u64 = 1 << 20;

impl Kind {
    /// Most bytes a file of this kind may have.
    pub const fn limit(self) -> u64 {
        match self {
            Kind::Kes => 1024 * MIB,
            Kind::Onnx => 2048 * MIB,
            Kind::Image => 64 * MIB,
            Kind::Npy => 256 * MIB,
            Kind::Labels => MIB,
            Kind::Key => 4096,
            Kind::Json => 16 * MIB,
        }
    }

    /// The name in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Kes => ".kes model",
            Kind::Onnx => "ONNX model",
            Kind::Image => "image",
            Kind::Npy => ".npy tensor",
            Kind::Labels => "labels file",
            Kind::Key => "key file",
            Kind::Json => "JSON file",
        }
    }
}

/// A byte count in the unit that reads best.
pub fn human(n: u64) -> String {
    if n >= MIB && n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

/// Check that `path` is a regular file within `kind`'s limit, without opening it.
pub fn check(path: &Path, kind: Kind) -> Result<u64> {
    let m = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if m.is_dir() {
        bail!("{} is a directory, not a {}", path.display(), kind.name());
    }
    if !m.is_file() {
        bail!("cannot read {}: not a regular file (a device, FIFO or socket); kestrel reads models and data only from regular files", path.display());
    }
    if m.len() > kind.limit() {
        bail!("{}: {} bytes is larger than the {} limit of {}", path.display(), m.len(), kind.name(), human(kind.limit()));
    }
    Ok(m.len())
}

/// Read `path` whole: a regular file of at most `kind.limit()` bytes. The limit also
/// holds for a file that grows while it is read.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>> {
    let len = check(path, kind)?;
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut b = Vec::with_capacity(len as usize);
    f.take(kind.limit() + 1).read_to_end(&mut b).with_context(|| format!("cannot read {}", path.display()))?;
    if b.len() as u64 > kind.limit() {
        bail!("{}: larger than the {} limit of {}", path.display(), kind.name(), human(kind.limit()));
    }
    Ok(b)
}

/// [`read`] as UTF-8 text.
pub fn read_text(path: &Path, kind: Kind) -> Result<String> {
    String::from_utf8(read(path, kind)?).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_large_and_special_files() {
        let d = std::env::temp_dir().join(format!("kestrel-bounded-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("dir");
        let p = d.join("labels.txt");
        std::fs::write(&p, "a\nb\n").expect("write");
        assert_eq!(read_text(&p, Kind::Labels).expect("read"), "a\nb\n");
        // Sparse: the size is checked before any byte is read.
        let f = std::fs::File::create(&p).expect("create");
        f.set_len(Kind::Labels.limit() + 1).expect("set_len");
        let e = read(&p, Kind::Labels).expect_err("too large");
        assert!(format!("{e}").contains("limit of 1 MiB"), "{e}");
        assert!(format!("{:#}", read(&d, Kind::Kes).expect_err("dir")).contains("directory"));
        #[cfg(unix)]
        assert!(format!("{:#}", read(Path::new("/dev/zero"), Kind::Npy).expect_err("device")).contains("not a regular file"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
