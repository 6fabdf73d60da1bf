//! Reinterpreting validated byte ranges as typed slices. The only `unsafe` in the runtime.
//!
//! Each function checks alignment and returns `None` rather than risk undefined behaviour;
//! validation at load time makes `None` unreachable for a model that loaded.

/// `&[u8]` as `&[i8]` (same size and alignment).
pub fn i8s(b: &[u8]) -> &[i8] {
    // SAFETY: i8 and u8 have identical size, alignment and validity; length is preserved.
    unsafe { core::slice::from_raw_parts(b.as_ptr() as *const i8, b.len()) }
}

/// `&mut [u8]` as `&mut [i8]`.
pub fn i8s_mut(b: &mut [u8]) -> &mut [i8] {
    // SAFETY: i8 and u8 have identical size, alignment and validity; the borrow is unique.
    unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut i8, b.len()) }
}

macro_rules! typed_view {
    ($name:ident, $name_mut:ident, $t:ty) => {
        /// Little-endian bytes as a typed slice; `None` if misaligned or not a whole number of elements.
        pub fn $name(b: &[u8]) -> Option<&[$t]> {
            const S: usize = core::mem::size_of::<$t>();
            if b.as_ptr() as usize % core::mem::align_of::<$t>() != 0 || b.len() % S != 0 {
                return None;
            }
            // SAFETY: alignment and length were checked above; every bit pattern is a valid
            // value of this plain numeric type; the runtime only builds on little-endian targets.
            Some(unsafe { core::slice::from_raw_parts(b.as_ptr() as *const $t, b.len() / S) })
        }
        /// Mutable variant of the typed view.
        #[allow(dead_code)]
        pub fn $name_mut(b: &mut [u8]) -> Option<&mut [$t]> {
            const S: usize = core::mem::size_of::<$t>();
            if b.as_ptr() as usize % core::mem::align_of::<$t>() != 0 || b.len() % S != 0 {
                return None;
            }
            // SAFETY: as above; the mutable borrow of `b` is unique for the returned lifetime.
            Some(unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut $t, b.len() / S) })
        }
    };
}
typed_view!(f32s, f32s_mut, f32);
typed_view!(i32s, i32s_mut, i32);

/// An arena element type: a byte range viewed as a slice of it (the executor's typed
/// inputs and outputs).
pub(crate) trait Elem: Sized + Send {
    /// The bytes as elements; `None` if misaligned or not whole elements.
    fn view(b: &[u8]) -> Option<&[Self]>;
    /// Mutable variant of [`Elem::view`].
    fn view_mut(b: &mut [u8]) -> Option<&mut [Self]>;
}

impl Elem for i8 {
    fn view(b: &[u8]) -> Option<&[i8]> {
        Some(i8s(b))
    }
    fn view_mut(b: &mut [u8]) -> Option<&mut [i8]> {
        Some(i8s_mut(b))
    }
}

impl Elem for f32 {
    fn view(b: &[u8]) -> Option<&[f32]> {
        f32s(b)
    }
    fn view_mut(b: &mut [u8]) -> Option<&mut [f32]> {
        f32s_mut(b)
    }
}

#[cfg(target_endian = "big")]
compile_error!("kestrel-runtime reads .kes weights in place and supports little-endian targets only");
