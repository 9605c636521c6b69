//! Making an evidence object written to a local directory survive a crash or power loss.
//!
//! `object_store`'s local backend writes a temporary file and links it into place, but never calls fsync. Until the
//! kernel writes its cache back, a crash can lose a manifest whose digest the operator already published in a
//! Control's status, or leave the directory entry without the data, and the chain would then show a gap or a
//! corrupt link that no one tampered with. So every object created in a directory store is flushed, file first,
//! then each directory entry from the file's up to the store's root (directories are created on first use).

use std::fs::File;
use std::io;
use std::path::Path;

/// Flushes `root/relative` and the directories leading to it (within `root`) to stable storage.
pub fn flush(root: &Path, relative: &str) -> io::Result<()> {
    let file = root.join(relative);
    File::open(&file)?.sync_all()?;
    let mut dir = file.parent();
    while let Some(d) = dir {
        if !d.starts_with(root) {
            break;
        }
        sync_dir(d)?;
        if d == root {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir)?.sync_all() {
        // Some filesystems cannot fsync a directory (EINVAL); their entries are as durable as they get.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushes_a_file_and_its_directories() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("manifests")).unwrap();
        std::fs::write(root.path().join("manifests/1.json"), b"{}").unwrap();
        flush(root.path(), "manifests/1.json").unwrap();
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_silent_success() {
        let root = tempfile::tempdir().unwrap();
        let err = flush(root.path(), "manifests/404.json").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
