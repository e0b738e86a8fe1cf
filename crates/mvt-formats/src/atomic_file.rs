//! Every file mvt writes goes through here: written to a temporary file in the destination's folder, flushed and
//! fsynced, then renamed over the destination, and the folder fsynced. A failure at any point (a full disk, a
//! file-size limit, a kill) leaves the previous file intact and no partial file under the final name.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Replaces `path` with what `write` writes into the temporary file, atomically; nothing changes when `write`
/// fails.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let folder = parent_folder(path);
    let mut temporary = tempfile::Builder::new().prefix(".mvt-tmp-").tempfile_in(folder)?;
    write(temporary.as_file_mut())?;
    temporary.as_file_mut().flush()?;
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|e| e.error)?;
    sync_folder(folder)
}

/// Moves the finished folder `staged` to `path` (which must not exist) and makes the rename durable: a reader
/// sees either no folder or a complete one.
pub fn publish_folder(staged: &Path, path: &Path) -> io::Result<()> {
    std::fs::rename(staged, path)?;
    sync_folder(parent_folder(path))
}

/// fsync on the folder, so that a rename inside it survives a crash.
pub fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder)?.sync_all()
}

fn parent_folder(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_write_keeps_the_previous_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, b"good").unwrap();
        let failed = write_atomic_with(&path, |file| {
            file.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert_eq!(failed.unwrap_err().to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"good");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["out.json"]);
        write_atomic(&path, b"better").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"better");
    }

    #[test]
    fn a_folder_is_published_whole_and_never_over_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join(".staged");
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(staged.join("weights"), b"w").unwrap();
        let target = dir.path().join("checkpoint");
        publish_folder(&staged, &target).unwrap();
        assert_eq!(std::fs::read(target.join("weights")).unwrap(), b"w");
        assert!(!staged.exists());
        let other = dir.path().join(".other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("weights"), b"x").unwrap();
        assert!(publish_folder(&other, &target).is_err());
        assert_eq!(std::fs::read(target.join("weights")).unwrap(), b"w");
    }
}
