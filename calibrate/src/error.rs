//! Errors of the `xpyd-calibrate` binary; every one ends the run with exit status 2.

/// Why calibration (or a merge) failed. All variants are fatal for the command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CalError {
    /// No CUDA driver library, or no device.
    #[error("no usable GPU: {0}")]
    NoGpu(String),
    /// A CUDA library needed by a measurement is missing.
    #[error(
        "CUDA library `{0}` not found; put its directory on LD_LIBRARY_PATH (e.g. /usr/local/cuda/lib64)"
    )]
    Library(&'static str),
    /// The device has less free memory than the run needs.
    #[error("GPU {ordinal} has {free_gib:.1} GiB free; this run needs at least {need_gib:.1} GiB")]
    Memory {
        /// Device ordinal.
        ordinal: usize,
        /// Free memory, GiB.
        free_gib: f64,
        /// Needed, GiB.
        need_gib: f64,
    },
    /// A CUDA driver call failed.
    #[error("CUDA: {0}")]
    Cuda(String),
    /// NVRTC could not compile the kernels.
    #[error("NVRTC: {0}")]
    Nvrtc(String),
    /// cuBLASLt failed.
    #[error("cuBLASLt: {0}")]
    Cublas(String),
    /// NCCL failed.
    #[error("NCCL: {0}")]
    Nccl(String),
    /// A profile or input file is invalid.
    #[error(transparent)]
    Profile(#[from] xpyd_models::profile::ProfileError),
    /// An input file (model config) is invalid.
    #[error("{0}")]
    Input(String),
    /// A merge, or writing a profile, failed.
    #[error(transparent)]
    Merge(#[from] xpyd_calibrate::merge::MergeError),
}
