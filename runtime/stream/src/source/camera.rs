//! Cameras through nokhwa (feature `camera`): V4L2 on Linux, which also serves the
//! Raspberry Pi camera through libcamera's V4L2 layer.

use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{CameraIndex, RequestedFormat, RequestedFormatType};
use nokhwa::Camera;

use super::{FrameSource, SourceError};
use crate::Frame;

/// An open camera, streaming.
pub struct CameraSource {
    index: u32,
    camera: Camera,
}

impl CameraSource {
    /// Open camera `index` at its highest frame rate and start streaming.
    pub fn open(index: u32) -> Result<CameraSource, SourceError> {
        #[cfg(target_os = "linux")]
        {
            let dev = format!("/dev/video{index}");
            if !std::path::Path::new(&dev).exists() {
                return Err(SourceError::Open(format!("camera:{index}: no such camera ({dev} does not exist)")));
            }
        }
        let format = RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestFrameRate);
        let mut camera = Camera::new(CameraIndex::Index(index), format)
            .map_err(|e| SourceError::Open(format!("camera:{index}: cannot open: {e}")))?;
        camera
            .open_stream()
            .map_err(|e| SourceError::Open(format!("camera:{index}: cannot start streaming: {e}")))?;
        Ok(CameraSource { index, camera })
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        let _ = self.camera.stop_stream();
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<(), SourceError> {
        let buf = self
            .camera
            .frame()
            .map_err(|e| SourceError::Disconnected(format!("camera:{}: {e}", self.index)))?;
        let img = buf
            .decode_image::<RgbFormat>()
            .map_err(|e| SourceError::Corrupt(format!("camera:{}: {e}", self.index)))?;
        frame.width = img.width();
        frame.height = img.height();
        frame.rgb = img.into_raw();
        Ok(())
    }
}
