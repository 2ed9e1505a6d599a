//! Calibration profiles (measured kernel timings); filled in by the calibration work.
