//! Video files and network streams (RTSP, HTTP, ...) decoded by an `ffmpeg` child process.
//!
//! ffmpeg writes the decoded frames to its stdout as a stream of binary PPM images
//! (`-f image2pipe -c:v ppm`): each frame carries its own size, so no probe is needed and
//! a resolution change mid-stream just works. A reader thread parses the frames; the
//! source waits for them with a timeout, so a stream that stops answering is detected and
//! reopened instead of blocking the pipeline forever.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{FrameSource, SourceError, SourceOptions};
use crate::Frame;

/// Largest frame side accepted from ffmpeg.
const MAX_SIDE: u32 = 1 << 14;

type Decoded = Result<(u32, u32, Vec<u8>), String>;

/// A running ffmpeg decoding one input.
pub struct FfmpegSource {
    input: String,
    live: bool,
    child: Child,
    frames: Receiver<Decoded>,
    recycle: SyncSender<Vec<u8>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    read_timeout: Duration,
    pending: Option<(u32, u32, Vec<u8>)>,
}

impl FfmpegSource {
    /// Start ffmpeg on `input` (a path or a URL) and wait for its first frame, at most
    /// `opts.open_timeout`.
    pub fn open(input: &str, opts: &SourceOptions) -> Result<FfmpegSource, SourceError> {
        let live = input.contains("://");
        if !live && !std::path::Path::new(input).is_file() {
            return Err(SourceError::Open(format!("video:{input}: no such file")));
        }
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
        if live {
            // Give up on a connection that stops answering (microseconds).
            let us = opts.read_timeout.as_micros().max(1_000_000).to_string();
            cmd.args(["-rw_timeout", &us]);
        }
        cmd.args(["-i", input, "-an", "-sn", "-dn", "-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "pipe:1"]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SourceError::Open("ffmpeg is not installed (scripts/setup.sh installs Debian's ffmpeg)".into())
            } else {
                SourceError::Open(format!("video:{input}: cannot start ffmpeg: {e}"))
            }
        })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SourceError::Open("ffmpeg: no pipes".into()));
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let t2 = tail.clone();
        std::thread::Builder::new()
            .name("ffmpeg-stderr".into())
            .spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut t = t2.lock().unwrap_or_else(|e| e.into_inner());
                    if t.len() == 8 {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            })
            .map_err(|e| SourceError::Open(format!("cannot start a thread: {e}")))?;
        let (tx, frames) = mpsc::sync_channel::<Decoded>(2);
        let (recycle, spare) = mpsc::sync_channel::<Vec<u8>>(4);
        std::thread::Builder::new()
            .name("ffmpeg-reader".into())
            .spawn(move || read_ppm_stream(stdout, tx, spare))
            .map_err(|e| SourceError::Open(format!("cannot start a thread: {e}")))?;
        let mut s = FfmpegSource {
            input: input.to_string(),
            live,
            child,
            frames,
            recycle,
            stderr: tail,
            read_timeout: opts.read_timeout,
            pending: None,
        };
        match s.frames.recv_timeout(opts.open_timeout) {
            Ok(Ok(f)) => {
                s.pending = Some(f);
                Ok(s)
            }
            Ok(Err(e)) => Err(SourceError::Open(format!("video:{input}: {}", s.why(&e)))),
            Err(RecvTimeoutError::Disconnected) => {
                Err(SourceError::Open(format!("video:{input}: {}", s.why("ffmpeg decoded no frame"))))
            }
            Err(RecvTimeoutError::Timeout) => Err(SourceError::Open(format!(
                "video:{input}: no frame within {:.0} s (the stream does not answer)",
                opts.open_timeout.as_secs_f64()
            ))),
        }
    }

    /// ffmpeg's last error line if it printed one, else `fallback`.
    fn why(&mut self, fallback: &str) -> String {
        // Let ffmpeg finish writing its message if it is exiting.
        for _ in 0..20 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(20));
        let t = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        match t.back() {
            Some(l) => format!("ffmpeg: {}", l.trim()),
            None => fallback.to_string(),
        }
    }
}

impl Drop for FfmpegSource {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FrameSource for FfmpegSource {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<(), SourceError> {
        let got = match self.pending.take() {
            Some(f) => Ok(Ok(f)),
            None => self.frames.recv_timeout(self.read_timeout),
        };
        match got {
            Ok(Ok((w, h, data))) => {
                let old = std::mem::replace(&mut frame.rgb, data);
                frame.width = w;
                frame.height = h;
                let _ = self.recycle.try_send(old);
                Ok(())
            }
            Ok(Err(e)) => Err(SourceError::Disconnected(self.why(&e))),
            Err(RecvTimeoutError::Disconnected) => {
                let ok = matches!(self.child.wait(), Ok(s) if s.success());
                if ok && !self.live {
                    Err(SourceError::End)
                } else if ok {
                    Err(SourceError::Disconnected(format!("{}: the stream ended", self.input)))
                } else {
                    Err(SourceError::Disconnected(self.why("ffmpeg exited")))
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                Err(SourceError::Disconnected(format!(
                    "{}: no frame for {:.1} s",
                    self.input,
                    self.read_timeout.as_secs_f64()
                )))
            }
        }
    }
}

/// Parse binary PPM (P6, maxval 255) frames from `r` until EOF or an error.
fn read_ppm_stream(r: impl Read, tx: SyncSender<Decoded>, spare: Receiver<Vec<u8>>) {
    let mut r = BufReader::with_capacity(1 << 20, r);
    loop {
        let (w, h) = match read_ppm_header(&mut r) {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut buf = spare.try_recv().unwrap_or_default();
        buf.resize(w as usize * h as usize * 3, 0);
        if let Err(e) = r.read_exact(&mut buf) {
            let _ = tx.send(Err(format!("truncated frame from ffmpeg: {e}")));
            return;
        }
        if tx.send(Ok((w, h, buf))).is_err() {
            return;
        }
    }
}

/// `Ok(None)` at a clean EOF before a header.
fn read_ppm_header(r: &mut impl BufRead) -> Result<Option<(u32, u32)>, String> {
    let mut magic = [0u8; 2];
    match r.read_exact(&mut magic) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    if &magic != b"P6" {
        return Err("ffmpeg output is not a PPM stream".into());
    }
    let mut fields = [0u32; 3];
    for f in &mut fields {
        *f = read_ppm_number(r)?;
    }
    let [w, h, maxval] = fields;
    if maxval != 255 || w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!("unsupported PPM frame {w}x{h} maxval {maxval}"));
    }
    Ok(Some((w, h)))
}

/// Skip whitespace and comments, read a decimal number and the one whitespace after it.
fn read_ppm_number(r: &mut impl BufRead) -> Result<u32, String> {
    let mut b = [0u8; 1];
    let mut next = |r: &mut dyn BufRead| -> Result<u8, String> {
        r.read_exact(&mut b).map_err(|e| format!("PPM header: {e}"))?;
        Ok(b[0])
    };
    let mut c = next(r)?;
    loop {
        if c == b'#' {
            while c != b'\n' {
                c = next(r)?;
            }
        }
        if !c.is_ascii_whitespace() {
            break;
        }
        c = next(r)?;
    }
    let mut v: u32 = 0;
    while c.is_ascii_digit() {
        v = v.checked_mul(10).and_then(|v| v.checked_add((c - b'0') as u32)).ok_or("PPM header: number too large")?;
        c = next(r)?;
    }
    if !c.is_ascii_whitespace() {
        return Err("PPM header is malformed".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_ppm_stream() {
        let mut s = b"P6\n2 1\n255\n\x01\x02\x03\x04\x05\x06".to_vec();
        s.extend_from_slice(b"P6 # comment\n1 1 255\n\x07\x08\x09");
        let (tx, rx) = mpsc::sync_channel(4);
        let (_keep, spare) = mpsc::sync_channel(1);
        read_ppm_stream(&s[..], tx, spare);
        let a = rx.recv().unwrap().unwrap();
        assert_eq!(a, (2, 1, vec![1, 2, 3, 4, 5, 6]));
        let b = rx.recv().unwrap().unwrap();
        assert_eq!(b, (1, 1, vec![7, 8, 9]));
        assert!(rx.recv().is_err(), "clean EOF");
        let (tx, rx) = mpsc::sync_channel(4);
        let (_keep, spare) = mpsc::sync_channel(1);
        read_ppm_stream(&b"P6\n2 2\n255\n\x01"[..], tx, spare);
        assert!(rx.recv().unwrap().is_err(), "truncated");
    }
}
