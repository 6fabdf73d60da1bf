//! A folder of images (every .png/.jpg/.jpeg, in name order) or the files a glob matches.

use std::path::{Path, PathBuf};

use super::{FrameSource, SourceError};
use crate::Frame;

/// Largest side of an image this source decodes.
pub const MAX_SIDE: u32 = 1 << 14;
/// Most bytes one decoded image may take.
pub const MAX_ALLOC: u64 = 512 << 20;

/// Images from a folder or glob, in order.
pub struct DirSource {
    files: Vec<PathBuf>,
    next: usize,
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
        Some("png" | "jpg" | "jpeg")
    )
}

impl DirSource {
    /// List `path`: a directory (its images, sorted by name) or a glob (`shots/*.jpg`).
    pub fn open(path: &str) -> Result<DirSource, SourceError> {
        let p = Path::new(path);
        let mut files: Vec<PathBuf> = if p.is_dir() {
            std::fs::read_dir(p)
                .map_err(|e| SourceError::Open(format!("dir:{path}: {e}")))?
                .flatten()
                .map(|e| e.path())
                .filter(|f| f.is_file() && is_image(f))
                .collect()
        } else if path.contains(['*', '?', '[']) {
            glob::glob(path)
                .map_err(|e| SourceError::Open(format!("dir:{path}: bad glob: {e}")))?
                .flatten()
                .filter(|f| f.is_file())
                .collect()
        } else {
            return Err(SourceError::Open(format!("dir:{path}: no such directory")));
        };
        files.sort();
        if files.is_empty() {
            return Err(SourceError::Open(format!("dir:{path}: no .png or .jpg images")));
        }
        Ok(DirSource { files, next: 0 })
    }

    /// The files, in the order they are delivered.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

/// Decode png/jpeg bytes into `frame` as RGB, refusing oversized images before allocating.
pub fn decode_into(bytes: &[u8], frame: &mut Frame) -> Result<(), String> {
    let mut r = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    r.limits(limits);
    let img = r.decode().map_err(|e| e.to_string())?.into_rgb8();
    frame.width = img.width();
    frame.height = img.height();
    frame.rgb = img.into_raw();
    Ok(())
}

impl FrameSource for DirSource {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<(), SourceError> {
        let Some(path) = self.files.get(self.next) else { return Err(SourceError::End) };
        self.next += 1;
        let bytes = std::fs::read(path).map_err(|e| SourceError::Corrupt(format!("{}: {e}", path.display())))?;
        decode_into(&bytes, frame).map_err(|e| SourceError::Corrupt(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_in_order_with_a_corrupt_file() {
        let d = std::env::temp_dir().join(format!("kestrel-dir-src-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        image::RgbImage::from_pixel(4, 3, image::Rgb([9, 8, 7])).save(d.join("b.png")).unwrap();
        image::RgbImage::from_pixel(2, 2, image::Rgb([1, 2, 3])).save(d.join("a.png")).unwrap();
        std::fs::write(d.join("c.jpg"), b"not a jpeg").unwrap();
        std::fs::write(d.join("notes.txt"), b"ignored").unwrap();
        let mut s = DirSource::open(d.to_str().unwrap()).unwrap();
        assert_eq!(s.files().len(), 3);
        let mut f = Frame::default();
        s.next_frame(&mut f).unwrap();
        assert_eq!((f.width, f.height, &f.rgb[..3]), (2, 2, &[1u8, 2, 3][..]));
        s.next_frame(&mut f).unwrap();
        assert_eq!((f.width, f.height), (4, 3));
        assert!(matches!(s.next_frame(&mut f), Err(SourceError::Corrupt(_))));
        assert_eq!(s.next_frame(&mut f), Err(SourceError::End));
        let g = DirSource::open(d.join("*.png").to_str().unwrap()).unwrap();
        assert_eq!(g.files().len(), 2);
        assert!(DirSource::open(d.join("nope").to_str().unwrap()).is_err());
        assert!(DirSource::open(d.join("*.gif").to_str().unwrap()).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
