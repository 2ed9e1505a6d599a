//! Transfers: NCCL all-reduce across 2/4/8 GPUs of the node, GPU-to-GPU peer copies and
//! pinned host <-> device copies.
//!
//! Invariants: NVLink multicast (NVLS) stays off (`NCCL_NVLS_ENABLE=0` is forced before
//! NCCL starts); an all-reduce sample is the slowest rank's event interval over a batch
//! of back-to-back collectives, divided by the batch; every size is warmed up first.

use crate::device::{Gpu, drv, median};
use crate::error::CalError;
use cudarc::driver::{result, sys};
use cudarc::nccl::{result as nr, sys as ns};
use std::ffi::c_void;
use xpyd_models::profile::{AllreduceRow, HostCopyDirection, HostCopyRow, P2pCopyRow};

fn nc<T>(r: Result<T, nr::NcclError>, what: &str) -> Result<T, CalError> {
    r.map_err(|e| CalError::Nccl(format!("{what}: {e:?}")))
}

/// NCCL version as `major.minor.patch`.
pub(crate) fn nccl_version() -> Option<String> {
    // SAFETY: checks that the library loads before calling into it.
    if !unsafe { ns::is_culib_present() } {
        return None;
    }
    let v = nr::get_nccl_version().ok()?;
    Some(format!("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100))
}

/// Timed all-reduce (bf16 sum, out of place) over `gpus[..n]` for each size in `sizes`.
pub(crate) fn allreduce(
    gpus: &[Gpu],
    sizes: &[u64],
    reps: usize,
) -> Result<Vec<AllreduceRow>, CalError> {
    let n = gpus.len();
    let version = nccl_version().ok_or(CalError::Library("nccl"))?;
    let devs: Vec<i32> = gpus.iter().map(|g| g.ordinal as i32).collect();
    let mut comms: Vec<ns::ncclComm_t> = vec![std::ptr::null_mut(); n];
    // SAFETY: comms has room for n communicators; devs lists n valid ordinals.
    nc(
        unsafe { nr::comm_init_all(comms.as_mut_ptr(), n as i32, devs.as_ptr()) },
        "ncclCommInitAll",
    )?;
    let max = *sizes.iter().max().unwrap_or(&0) as usize;
    let mut bufs = Vec::new();
    for g in gpus {
        let s = g.alloc(max)?;
        let r = g.alloc(max)?;
        g.fill_bf16(&s, 5, 1.0)?;
        g.sync()?;
        bufs.push((s, r));
    }
    let mut events = Vec::new();
    for g in gpus {
        g.bind()?;
        let a = drv(
            result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT),
            "event",
        )?;
        let b = drv(
            result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT),
            "event",
        )?;
        events.push((a, b));
    }
    let mut rows = Vec::new();
    let outcome = (|| {
        for &bytes in sizes {
            let count = (bytes / 2) as usize;
            let mut samples = Vec::new();
            // Back-to-back collectives per sample (as nccl-tests does), queued behind a
            // spin kernel on every GPU so that host launch time and the ranks' start
            // skew are amortised rather than timed.
            let inner = if bytes <= 64 << 20 { 20 } else { 3 };
            let spin_ns = (inner as u64 * 40_000 + 50_000).min(2_000_000);
            for rep in 0..reps + 3 {
                for (i, g) in gpus.iter().enumerate() {
                    g.bind()?;
                    g.spin(spin_ns)?;
                    // SAFETY: event and stream of this context.
                    unsafe { drv(result::event::record(events[i].0, g.cu_stream()), "record")? };
                }
                for _ in 0..inner {
                    nc(nr::group_start(), "ncclGroupStart")?;
                    for (i, g) in gpus.iter().enumerate() {
                        g.bind()?;
                        // SAFETY: buffers hold `bytes` bytes on this GPU; comm i is its.
                        nc(
                            unsafe {
                                nr::all_reduce(
                                    bufs[i].0.ptr as *const c_void,
                                    bufs[i].1.ptr as *mut c_void,
                                    count,
                                    ns::ncclDataType_t::ncclBfloat16,
                                    ns::ncclRedOp_t::ncclSum,
                                    comms[i],
                                    g.cu_stream() as ns::cudaStream_t,
                                )
                            },
                            "ncclAllReduce",
                        )?;
                    }
                    nc(nr::group_end(), "ncclGroupEnd")?;
                }
                let mut worst = 0.0f64;
                for (i, g) in gpus.iter().enumerate() {
                    g.bind()?;
                    // SAFETY: as above.
                    unsafe {
                        drv(result::event::record(events[i].1, g.cu_stream()), "record")?;
                        drv(result::event::synchronize(events[i].1), "sync")?;
                        let ms = drv(result::event::elapsed(events[i].0, events[i].1), "elapsed")?;
                        worst = worst.max(f64::from(ms) * 1e-3 / inner as f64);
                    }
                }
                if rep >= 3 {
                    samples.push(worst);
                }
            }
            let s = median(&mut samples);
            let nf = n as f64;
            rows.push(AllreduceRow {
                gpus: n as u32,
                bytes,
                seconds: s,
                bus_gb_s: bytes as f64 * 2.0 * (nf - 1.0) / nf / s / 1e9,
                algorithm: format!("nccl-{version}"),
            });
        }
        Ok::<(), CalError>(())
    })();
    for (i, g) in gpus.iter().enumerate() {
        let _ = g.bind();
        // SAFETY: created above, destroyed once.
        unsafe {
            let _ = result::event::destroy(events[i].0);
            let _ = result::event::destroy(events[i].1);
            let _ = nr::comm_destroy(comms[i]);
        }
    }
    outcome?;
    Ok(rows)
}

/// Peer copies GPU a -> GPU b.
pub(crate) fn p2p(a: &Gpu, b: &Gpu, sizes: &[u64]) -> Result<Vec<P2pCopyRow>, CalError> {
    let mut can = 0i32;
    // SAFETY: plain queries and peer enabling between two live contexts.
    unsafe {
        drv(
            sys::cuDeviceCanAccessPeer(&mut can, a.ctx.cu_device(), b.ctx.cu_device()).result(),
            "cuDeviceCanAccessPeer",
        )?;
        if can == 1 {
            a.bind()?;
            let _ = sys::cuCtxEnablePeerAccess(b.ctx.cu_ctx(), 0);
            b.bind()?;
            let _ = sys::cuCtxEnablePeerAccess(a.ctx.cu_ctx(), 0);
        }
    }
    let max = *sizes.iter().max().unwrap_or(&0) as usize;
    let src = a.alloc(max)?;
    let dst = b.alloc(max)?;
    a.fill_bytes(&src, 3)?;
    a.sync()?;
    let mut rows = Vec::new();
    for &bytes in sizes {
        let s = a.time_auto(0.05, 30, |_| {
            // SAFETY: both buffers hold at least `bytes` bytes.
            unsafe {
                drv(
                    result::memcpy_peer_async(
                        b.ctx.cu_ctx(),
                        dst.ptr,
                        a.ctx.cu_ctx(),
                        src.ptr,
                        bytes as usize,
                        a.cu_stream(),
                    ),
                    "cuMemcpyPeerAsync",
                )
            }
        })?;
        rows.push(P2pCopyRow {
            bytes,
            seconds: s,
            gb_s: bytes as f64 / s / 1e9,
        });
    }
    Ok(rows)
}

/// Pinned host <-> device copies on `gpu`.
pub(crate) fn host_copies(gpu: &Gpu, sizes: &[u64]) -> Result<Vec<HostCopyRow>, CalError> {
    let max = *sizes.iter().max().unwrap_or(&0) as usize;
    gpu.bind()?;
    // SAFETY: pinned allocation of `max` bytes, freed below.
    let host = drv(
        unsafe { result::malloc_host(max.max(1), 0) },
        "cuMemHostAlloc",
    )?;
    let dev = gpu.alloc(max)?;
    gpu.fill_bytes(&dev, 11)?;
    gpu.sync()?;
    let mut rows = Vec::new();
    let outcome = (|| {
        for &bytes in sizes {
            for dir in [
                HostCopyDirection::HostToDevice,
                HostCopyDirection::DeviceToHost,
            ] {
                let s = gpu.time_auto(0.05, 30, |_| {
                    // SAFETY: host and dev hold at least `bytes` bytes; the slice views
                    // pinned memory that outlives the copy (we synchronise per sample).
                    unsafe {
                        let slice = std::slice::from_raw_parts_mut(host as *mut u8, bytes as usize);
                        match dir {
                            HostCopyDirection::HostToDevice => drv(
                                result::memcpy_htod_async(dev.ptr, &*slice, gpu.cu_stream()),
                                "cuMemcpyHtoDAsync",
                            ),
                            HostCopyDirection::DeviceToHost => drv(
                                result::memcpy_dtoh_async(slice, dev.ptr, gpu.cu_stream()),
                                "cuMemcpyDtoHAsync",
                            ),
                        }
                    }
                })?;
                rows.push(HostCopyRow {
                    direction: dir,
                    bytes,
                    seconds: s,
                    gb_s: bytes as f64 / s / 1e9,
                });
            }
        }
        Ok::<(), CalError>(())
    })();
    gpu.sync()?;
    // SAFETY: allocated above, freed once after all copies completed.
    unsafe {
        let _ = result::free_host(host);
    }
    outcome?;
    Ok(rows)
}
