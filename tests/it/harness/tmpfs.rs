//! A tiny private tmpfs, so that a test can fill its disk under a running gateway: the
//! one way to make a file unwritable that stops root too (file modes do not). Needs the
//! right to mount (root, as in CI); without it the test fails and says so, unless
//! `LLMPOOL_SKIP_MOUNT=1` is set, when it says on stderr that it skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a temporary directory; unmounted when dropped.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount` reads it: `4m`), or returns `None` when
    /// mounting is not allowed and `LLMPOOL_SKIP_MOUNT=1`.
    pub(crate) fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Self { dir }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("LLMPOOL_SKIP_MOUNT").is_ok_and(|v| v == "1"),
                    "this test mounts a small tmpfs to fill its disk and could not ({why}); \
                     run it as root, or set LLMPOOL_SKIP_MOUNT=1 to skip it explicitly"
                );
                eprintln!("skipped: cannot mount a tmpfs and LLMPOOL_SKIP_MOUNT=1: {why}");
                None
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem is full; returns its path (remove it to free
    /// the space).
    pub(crate) fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("create the filler");
        let chunk = vec![0_u8; 4096];
        loop {
            if let Err(e) = file.write_all(&chunk) {
                assert_eq!(
                    e.raw_os_error(),
                    Some(28),
                    "expected ENOSPC while filling the tmpfs: {e}"
                );
                break;
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
