//! The one way kestrel writes a file. Every writer (`compile -o` / `--export-onnx`,
//! `sign -o`, `zoo -o` / `--inputs`, `bench --markdown`, `eval --out`, `keygen`, a training
//! run's files) stages its files in an [`Outputs`] and commits them together:
//!
//! - a target that is a directory, a device, a FIFO or a socket is refused; so is one that
//!   is the same file (device and inode, symlinks resolved) as any input the command reads
//!   or as another output of the same command;
//! - a symlink is written through: its target is replaced, the link stays;
//! - each file is written to a temp file in the target's directory, synced, then renamed
//!   over the target, and the directory is synced: a crash leaves the old file or the new;
//! - the files of one [`Outputs`] are all written or none: nothing is renamed before every
//!   file is staged, and a rename that fails puts back the files renamed before it;
//! - temp files are removed when the command fails (the [`Outputs`] is dropped uncommitted).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};

/// Most symlinks followed from one output path (Linux's own limit).
const MAX_LINKS: usize = 40;

static NEXT_TMP: AtomicUsize = AtomicUsize::new(0);

/// Device and inode of a file: what "the same file" means.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn file_id(m: &std::fs::Metadata) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        FileId { dev: m.dev(), ino: m.ino() }
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        FileId { dev: 0, ino: NEXT_TMP.fetch_add(1, Ordering::Relaxed) as u64 }
    }
}

/// What a non-regular file is, for the message.
fn kind(m: &std::fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

fn kind_or_file(m: &std::fs::Metadata) -> &'static str {
    if m.is_file() { "a regular file" } else { kind(m) }
}

/// Follow `path` through symlinks to the path that is really written (which may not
/// exist yet).
fn resolve(path: &Path) -> Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p).with_context(|| format!("cannot read the symlink {}", p.display()))?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    bail!("cannot write {}: more than {MAX_LINKS} symlinks", path.display())
}

/// One staged file.
struct Staged {
    /// As the user named it (for messages).
    shown: PathBuf,
    /// The symlink-resolved path that is replaced.
    target: PathBuf,
    /// Canonical directory + file name: two outputs naming one new file compare equal.
    key: PathBuf,
    tmp: PathBuf,
    /// Refuse to replace an existing file (keys).
    no_clobber: bool,
}

/// Files written together by one command: all or none.
#[derive(Default)]
pub struct Outputs {
    inputs: Vec<(PathBuf, FileId)>,
    staged: Vec<Staged>,
    /// Directories this command created, removed again (when empty) if it fails.
    created: Vec<PathBuf>,
}

impl Outputs {
    /// A set of outputs that may not replace any of `inputs`.
    pub fn new(inputs: &[&Path]) -> Outputs {
        let mut o = Outputs::default();
        for p in inputs {
            o.input(p);
        }
        o
    }

    /// Also protect `path` (an input the command reads). A path that doesn't exist is
    /// skipped: reading it fails on its own.
    pub fn input(&mut self, path: &Path) {
        if let Ok(m) = std::fs::metadata(path) {
            self.inputs.push((path.to_path_buf(), file_id(&m)));
        }
    }

    /// Make sure the output directory `path` exists (creating it and its parents); a
    /// directory created here is removed again if the command fails.
    pub fn dir(&mut self, path: &Path) -> Result<()> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(m) => bail!("cannot write into {}: it is {}, not a directory", path.display(), kind_or_file(&m)),
            Err(_) => {}
        }
        let mut missing = Vec::new();
        let mut p = Some(path);
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err()) {
            missing.push(d.to_path_buf());
            p = d.parent();
        }
        std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
        // Deepest first, so removing them in order empties each parent.
        self.created.extend(missing);
        Ok(())
    }

    /// Check that `path` can be an output of this command; returns the resolved target.
    /// Call it before the work so a bad `-o` fails at once; [`Outputs::stage`] checks again.
    pub fn check(&self, path: &Path) -> Result<PathBuf> {
        self.locate(path).map(|(target, _)| target)
    }

    /// The resolved target of `path` and its key (canonical directory + file name).
    fn locate(&self, path: &Path) -> Result<(PathBuf, PathBuf)> {
        let shown = path.display();
        let target = resolve(path)?;
        let name = target.file_name().with_context(|| format!("cannot write {shown}: not a file name"))?;
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("cannot write {shown}: {} is not a directory", dir.display()),
            Err(_) => bail!("cannot write {shown}: directory {} does not exist", dir.display()),
        }
        if let Ok(m) = std::fs::metadata(&target) {
            if !m.is_file() {
                bail!("cannot write {shown}: it is {}, not a regular file (kestrel writes only regular files)", kind(&m));
            }
            let id = file_id(&m);
            if let Some((input, _)) = self.inputs.iter().find(|(_, i)| *i == id) {
                bail!("cannot write {shown}: it is the input {} (the same file); choose another output", input.display());
            }
        }
        let key = std::fs::canonicalize(&dir).unwrap_or(dir).join(name);
        if let Some(s) = self.staged.iter().find(|s| s.key == key || same_file(&s.target, &target)) {
            bail!("cannot write {shown}: it is also the output {} of this command; give each output its own path", s.shown.display());
        }
        Ok((target, key))
    }

    /// Write `bytes` to a synced temp file beside `path`'s target; nothing is replaced
    /// until [`Outputs::commit`].
    pub fn stage(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.stage_with(path, bytes, None, false)
    }

    /// [`Outputs::stage`] for a file that must not exist yet, created with `mode` (a key).
    pub fn stage_new(&mut self, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
        if std::fs::symlink_metadata(path).is_ok() {
            bail!("{} exists; refusing to overwrite a key", path.display());
        }
        self.stage_with(path, bytes, Some(mode), true)
    }

    fn stage_with(&mut self, path: &Path, bytes: &[u8], mode: Option<u32>, no_clobber: bool) -> Result<()> {
        let (target, key) = self.locate(path)?;
        let name = target.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let n = NEXT_TMP.fetch_add(1, Ordering::Relaxed);
        let tmp = target.with_file_name(format!(".{name}.kestrel-{}-{n}.tmp", std::process::id()));
        // Registered before it exists, so Drop removes whatever part of it was written.
        self.staged.push(Staged { shown: path.to_path_buf(), target: target.clone(), key, tmp: tmp.clone(), no_clobber });
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            // A replaced file keeps its permissions; a new one gets the umask's.
            let keep = std::fs::metadata(&target).ok().map(|m| m.permissions().mode() & 0o7777);
            o.mode(mode.or(keep).unwrap_or(0o666));
        }
        let write = || -> std::io::Result<()> {
            let mut f = o.open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        write().with_context(|| format!("cannot write {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Some(m) = mode {
                // The umask may have narrowed `mode`; a key's mode is exact.
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(m)).with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// Replace every target with its staged file (all or none), then sync the directories.
    pub fn commit(mut self) -> Result<()> {
        let staged = std::mem::take(&mut self.staged);
        let created = std::mem::take(&mut self.created);
        let mut done: Vec<(&Staged, Option<PathBuf>)> = Vec::new();
        let mut failed = None;
        for s in &staged {
            match replace(s) {
                Ok(backup) => done.push((s, backup)),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            for (s, backup) in done.into_iter().rev() {
                match backup {
                    Some(b) => drop(std::fs::rename(&b, &s.target)),
                    None => drop(std::fs::remove_file(&s.target)),
                }
            }
            for s in &staged {
                let _ = std::fs::remove_file(&s.tmp);
            }
            self.created = created;
            return Err(e);
        }
        for (_, backup) in &done {
            if let Some(b) = backup {
                let _ = std::fs::remove_file(b);
            }
        }
        let mut dirs: Vec<PathBuf> = staged.iter().map(|s| s.key.parent().unwrap_or(Path::new(".")).to_path_buf()).collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            // Makes the renames durable; a filesystem that can't sync a directory still
            // has the files.
            if let Ok(f) = File::open(&d) {
                let _ = f.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for Outputs {
    /// Uncommitted: the command failed; leave nothing of it behind.
    fn drop(&mut self) {
        for s in &self.staged {
            let _ = std::fs::remove_file(&s.tmp);
        }
        for d in &self.created {
            // Only an empty directory goes; one something else wrote into stays.
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Rename one staged file over its target. Returns a hard link to the file it replaced
/// (so a later failure can put it back), or None when there was none.
fn replace(s: &Staged) -> Result<Option<PathBuf>> {
    let err = || format!("cannot write {}", s.shown.display());
    if s.no_clobber {
        // A hard link never replaces: atomic create-if-absent.
        std::fs::hard_link(&s.tmp, &s.target).with_context(|| format!("{} exists or cannot be created", s.shown.display()))?;
        let _ = std::fs::remove_file(&s.tmp);
        return Ok(None);
    }
    let backup = if std::fs::metadata(&s.target).is_ok() {
        let b = s.tmp.with_extension("old");
        std::fs::hard_link(&s.target, &b).ok().map(|_| b)
    } else {
        None
    };
    match std::fs::rename(&s.tmp, &s.target) {
        Ok(()) => Ok(backup),
        Err(e) => {
            if let Some(b) = backup {
                let _ = std::fs::remove_file(b);
            }
            Err(e).with_context(err)
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => file_id(&x) == file_id(&y),
        _ => false,
    }
}

/// Write one file the safe way: [`Outputs`] with one file.
pub fn write_file(path: &Path, bytes: &[u8], inputs: &[&Path]) -> Result<()> {
    let mut o = Outputs::new(inputs);
    o.stage(path, bytes)?;
    o.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kestrel-output-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("tmp dir");
        d
    }

    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d).expect("dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn writes_replaces_and_leaves_no_temp() {
        let d = tmp("basic");
        let p = d.join("a.kes");
        write_file(&p, b"one", &[]).expect("write");
        write_file(&p, b"two", &[]).expect("replace");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(names(&d), ["a.kes"]);
    }

    #[test]
    fn refuses_inputs_directories_and_twice_the_same_output() {
        let d = tmp("refuse");
        let input = d.join("m.onnx");
        std::fs::write(&input, b"model").expect("input");
        let e = write_file(&input, b"x", &[&input]).expect_err("input");
        assert!(format!("{e}").contains("is the input"), "{e}");
        let link = d.join("hard.onnx");
        std::fs::hard_link(&input, &link).expect("hard link");
        assert!(write_file(&link, b"x", &[&input]).is_err(), "a hard link is the same file");
        let e = write_file(&d, b"x", &[]).expect_err("dir");
        assert!(format!("{e}").contains("a directory"), "{e}");
        let mut o = Outputs::new(&[]);
        o.stage(&d.join("same"), b"1").expect("first");
        let e = o.stage(&d.join("./same"), b"2").expect_err("second");
        assert!(format!("{e}").contains("also the output"), "{e}");
        drop(o);
        assert_eq!(std::fs::read(&input).expect("read"), b"model");
        assert_eq!(names(&d), ["hard.onnx", "m.onnx"]);
    }

    #[test]
    fn writes_through_a_symlink() {
        let d = tmp("symlink");
        let real = d.join("real.kes");
        std::fs::write(&real, b"old").expect("real");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("real.kes", d.join("link.kes")).expect("symlink");
            write_file(&d.join("link.kes"), b"new", &[]).expect("write");
            assert!(std::fs::symlink_metadata(d.join("link.kes")).expect("link").file_type().is_symlink());
            assert_eq!(std::fs::read(&real).expect("read"), b"new");
            assert!(write_file(&d.join("link.kes"), b"x", &[&real]).is_err(), "the link's target is an input");
        }
    }

    #[test]
    fn all_or_none() {
        let d = tmp("all");
        let a = d.join("a");
        std::fs::write(&a, b"old a").expect("a");
        let mut o = Outputs::new(&[]);
        o.stage(&a, b"new a").expect("a");
        assert!(o.stage(&d.join("missing/b"), b"b").is_err());
        drop(o);
        assert_eq!(std::fs::read(&a).expect("a"), b"old a");
        assert_eq!(names(&d), ["a"]);
        let mut o = Outputs::new(&[]);
        o.dir(&d.join("new/deeper")).expect("dir");
        o.stage(&d.join("new/deeper/x"), b"x").expect("x");
        drop(o);
        assert_eq!(names(&d), ["a"], "a failed command removes the directories it made");
        assert!(Outputs::new(&[]).dir(&a).is_err(), "a file is not a directory");
    }

    #[test]
    fn keys_are_never_replaced() {
        let d = tmp("key");
        let k = d.join("k");
        let mut o = Outputs::new(&[]);
        o.stage_new(&k, b"secret", 0o600).expect("stage");
        o.commit().expect("commit");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&k).expect("k").permissions().mode() & 0o777, 0o600);
        }
        assert!(Outputs::new(&[]).stage_new(&k, b"other", 0o600).is_err());
        assert_eq!(std::fs::read(&k).expect("k"), b"secret");
        assert_eq!(names(&d), ["k"]);
    }
}
