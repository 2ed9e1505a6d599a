//! SIGINT and SIGTERM: remove what the interrupted command was writing, then end the
//! process as the signal would have.
//!
//! A command registers what to remove ([`remove_on_signal`]): a staging folder
//! (`xpyd_reports::staging`), or the `.NAME.partial` files of an output folder written in
//! place. A thread started by [`install`] waits for the signals (`signal-hook`, which
//! runs no code of ours in the signal handler itself); on one it removes every registered
//! path and re-raises the signal with its default action, so the exit status is the
//! signal's. Registration and [`locked`] share one lock with that thread: a staging folder
//! being renamed into place under [`locked`] is either fully in place or removed, never
//! half. This is process-wide state, so it lives in the binary, not in a library.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// What to remove on a signal.
#[derive(Debug)]
pub(crate) enum Pending {
    /// A staging folder, whole.
    Dir(PathBuf),
    /// The `.NAME.partial` files of an output folder and of its subfolders.
    Partials(PathBuf),
}

#[derive(Debug, Default)]
struct Registry {
    next: u64,
    pending: Vec<(u64, Pending)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 0,
    pending: Vec::new(),
});

fn lock() -> MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Start the thread that cleans up on SIGINT and SIGTERM (once, before any command).
pub(crate) fn install() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::iterator::Signals;
        let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                // Held until the process ends: no commit starts after the cleanup.
                let registry = lock();
                for (_, p) in &registry.pending {
                    clean(p);
                }
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        });
    }
}

/// Remove `what` if a signal ends the process before the returned guard is dropped.
#[must_use = "the path is removed on a signal only while the guard lives"]
pub(crate) fn remove_on_signal(what: Pending) -> Registration {
    let mut r = lock();
    let id = r.next;
    r.next += 1;
    r.pending.push((id, what));
    Registration(id)
}

/// Run `f` (a commit) with the cleanup held off: a signal during `f` is acted on after.
pub(crate) fn locked<T>(f: impl FnOnce() -> T) -> T {
    let _held = lock();
    f()
}

/// A registered path; dropping it unregisters the path.
#[derive(Debug)]
pub(crate) struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        lock().pending.retain(|(id, _)| *id != self.0);
    }
}

fn clean(p: &Pending) {
    match p {
        Pending::Dir(d) => {
            // Writers may still add a file while the folder is removed: try again.
            for _ in 0..5 {
                if std::fs::remove_dir_all(d).is_ok() || !d.exists() {
                    break;
                }
            }
        }
        Pending::Partials(d) => remove_partials(d, 1),
    }
}

/// Remove the `.NAME.partial` files of `dir`, and of its subfolders `depth` levels down.
fn remove_partials(dir: &Path, depth: u32) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && depth > 0 {
            remove_partials(&p, depth - 1);
        } else if !is_dir && name.starts_with('.') && name.ends_with(".partial") {
            let _ = std::fs::remove_file(&p);
        }
    }
}
