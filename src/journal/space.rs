//! Free space on the journal's file system, for the reserve the journal leaves to others.

use std::io;
use std::path::Path;

/// How the journal measures free space: bytes available to an unprivileged writer on the
/// file system holding a directory. Production keeps the default ([`FreeSpaceProbe::STATVFS`]);
/// the field exists so tests can simulate a filling disk without filling one.
#[derive(Clone, Copy)]
pub struct FreeSpaceProbe(pub fn(&Path) -> io::Result<u64>);

impl FreeSpaceProbe {
    /// `statvfs`: available blocks (`f_bavail`, what a non-root daemon may use) times the
    /// fragment size.
    pub const STATVFS: FreeSpaceProbe = FreeSpaceProbe(statvfs_free);

    pub(super) fn free(&self, dir: &Path) -> io::Result<u64> {
        (self.0)(dir)
    }
}

fn statvfs_free(dir: &Path) -> io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

impl Default for FreeSpaceProbe {
    fn default() -> Self {
        FreeSpaceProbe::STATVFS
    }
}

impl std::fmt::Debug for FreeSpaceProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == FreeSpaceProbe::STATVFS {
            f.write_str("FreeSpaceProbe::STATVFS")
        } else {
            f.write_str("FreeSpaceProbe(custom)")
        }
    }
}

impl PartialEq for FreeSpaceProbe {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl Eq for FreeSpaceProbe {}
