//! calibration (in progress)
