//! The bounded queue between capture and inference. When it is full, the newest frame wins:
//! the oldest waiting frame is dropped (and counted), so a slow model sees the freshest
//! picture and memory never grows. Frames are recycled so their buffers are reused.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::Frame;

/// What [`FrameQueue::pop`] got.
#[derive(Debug)]
pub enum Pop {
    /// A frame.
    Frame(Frame),
    /// Nothing arrived within the timeout.
    Timeout,
    /// The producer closed the queue and it is empty.
    Closed,
}

struct State {
    q: VecDeque<Frame>,
    spare: Vec<Frame>,
    closed: bool,
    dropped: u64,
}

/// A bounded frame queue, shared by the capture thread and the pipeline.
pub struct FrameQueue {
    state: Mutex<State>,
    pushed: Condvar,
    popped: Condvar,
    capacity: usize,
    block: bool,
}

impl FrameQueue {
    /// A queue of `capacity` frames (at least 1). With `block`, a full queue makes the
    /// producer wait instead of dropping (for processing every frame of a file).
    pub fn new(capacity: usize, block: bool) -> FrameQueue {
        let capacity = capacity.max(1);
        FrameQueue {
            state: Mutex::new(State { q: VecDeque::with_capacity(capacity + 1), spare: Vec::new(), closed: false, dropped: 0 }),
            pushed: Condvar::new(),
            popped: Condvar::new(),
            capacity,
            block,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a frame; when full, drop the oldest (or wait, in blocking mode).
    pub fn push(&self, f: Frame) {
        let mut s = self.lock();
        if self.block {
            while s.q.len() >= self.capacity && !s.closed {
                s = self.popped.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        } else if s.q.len() >= self.capacity {
            if let Some(old) = s.q.pop_front() {
                s.dropped += 1;
                Self::keep_spare(&mut s, old, self.capacity);
            }
        }
        s.q.push_back(f);
        drop(s);
        self.pushed.notify_one();
    }

    /// The oldest frame, waiting at most `timeout`.
    pub fn pop(&self, timeout: Duration) -> Pop {
        let mut s = self.lock();
        if s.q.is_empty() && !s.closed {
            s = self.pushed.wait_timeout_while(s, timeout, |s| s.q.is_empty() && !s.closed).unwrap_or_else(|e| e.into_inner()).0;
        }
        let r = match s.q.pop_front() {
            Some(f) => Pop::Frame(f),
            None if s.closed => Pop::Closed,
            None => Pop::Timeout,
        };
        drop(s);
        self.popped.notify_one();
        r
    }

    /// Give a processed frame back for reuse.
    pub fn recycle(&self, f: Frame) {
        let mut s = self.lock();
        Self::keep_spare(&mut s, f, self.capacity);
    }

    fn keep_spare(s: &mut State, f: Frame, capacity: usize) {
        if s.spare.len() < capacity + 2 {
            s.spare.push(f);
        }
    }

    /// A frame to fill (a recycled one when available).
    pub fn spare(&self) -> Frame {
        self.lock().spare.pop().unwrap_or_default()
    }

    /// No more frames will come; wakes every waiter.
    pub fn close(&self) {
        self.lock().closed = true;
        self.pushed.notify_all();
        self.popped.notify_all();
    }

    /// Frames dropped because a newer one arrived while the queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Frames waiting now.
    pub fn len(&self) -> usize {
        self.lock().q.len()
    }

    /// True when no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(seq: u64) -> Frame {
        Frame { seq, ..Frame::default() }
    }

    #[test]
    fn newest_wins_and_drops_are_counted() {
        let q = FrameQueue::new(2, false);
        for i in 0..5 {
            q.push(f(i));
        }
        assert_eq!(q.len(), 2);
        assert_eq!(q.dropped(), 3);
        let Pop::Frame(a) = q.pop(Duration::ZERO) else { panic!() };
        assert_eq!(a.seq, 3);
        let Pop::Frame(b) = q.pop(Duration::ZERO) else { panic!() };
        assert_eq!(b.seq, 4);
        assert!(matches!(q.pop(Duration::from_millis(5)), Pop::Timeout));
        q.close();
        assert!(matches!(q.pop(Duration::from_secs(5)), Pop::Closed));
    }

    #[test]
    fn blocking_mode_never_drops() {
        let q = std::sync::Arc::new(FrameQueue::new(1, true));
        let p = q.clone();
        let t = std::thread::spawn(move || {
            for i in 0..50 {
                p.push(f(i));
            }
            p.close();
        });
        let mut seen = Vec::new();
        while let Pop::Frame(x) = q.pop(Duration::from_secs(5)) {
            seen.push(x.seq);
        }
        t.join().unwrap();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert_eq!(q.dropped(), 0);
    }
}
