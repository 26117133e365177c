//! The report folder of a `run`, `sweep` or `capacity`, claimed before the
//! load so two runs can never write into one folder, and filled in one
//! step at the end.
//!
//! A claim is an exclusive `flock` on a lock file inside the final folder
//! (made if missing), held for the claim's life; the file holds the
//! claiming process's pid, for the message only. The kernel drops the lock
//! when its process dies, so a killed run's lock is simply taken: no pid
//! is trusted, and two runs can never both hold one folder. A folder with
//! contents besides the lock is refused unless `--force` is given. The
//! reports are written into a sibling staging folder, which then takes the
//! final folder's place in one `renameat2(RENAME_EXCHANGE)`: a reader sees
//! the old reports or the new ones, never a mix, and a run that fails
//! leaves the old ones as they were. It does not render reports: callers
//! write into [`Claim::staging`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::Error;

/// The claim file's name inside the final folder.
pub const LOCK: &str = ".seckill-bench.lock";

/// A report folder claimed by this process.
#[derive(Debug)]
pub struct Claim {
    final_dir: PathBuf,
    staging: PathBuf,
    lock: PathBuf,
    /// Holds the `flock` until the claim is dropped.
    _held: std::fs::File,
    /// The final folder did not exist: it is removed when nothing is
    /// committed.
    created: bool,
    committed: bool,
}

impl Claim {
    /// Claims `dir` as the report folder. With `force`, a folder with
    /// contents is accepted and its contents replaced at [`Claim::commit`].
    ///
    /// # Errors
    /// [`Error::Usage`] (exit 2) when `dir` names no folder, is not a
    /// folder, has contents without `force`, or another live run claimed
    /// it; [`Error::Environment`] when it cannot be created.
    pub fn chosen(dir: &Path, force: bool) -> Result<Claim, Error> {
        let name = dir.file_name().ok_or_else(|| {
            Error::Usage(format!(
                "--out {}: names no folder\n  what to do: give the path of a folder for the reports, e.g. --out reports/mine",
                dir.display()
            ))
        })?;
        let created = make_dir(dir)?;
        let claim = Claim::locked(dir, name, created)?;
        if !created && !force {
            // Dropping the claim releases the lock it took.
            refuse_contents(dir)?;
        }
        Ok(claim)
    }

    /// Claims `dir`, which this process has just made (`reports/<name>`).
    ///
    /// # Errors
    /// As [`Claim::chosen`].
    pub fn made(dir: &Path) -> Result<Claim, Error> {
        let name = dir.file_name().context("a report folder has a name")?;
        Claim::locked(dir, name, true)
    }

    fn locked(dir: &Path, name: &std::ffi::OsStr, created: bool) -> Result<Claim, Error> {
        let (lock, held) = take_lock(dir, created)?;
        let staging = match make_staging(dir, name) {
            Ok(staging) => staging,
            Err(e) => {
                release(&lock, dir, created);
                return Err(Error::Environment(e));
            }
        };
        Ok(Claim {
            final_dir: dir.to_owned(),
            staging,
            lock,
            _held: held,
            created,
            committed: false,
        })
    }

    /// Where the reports are written until [`Claim::commit`].
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// The folder the reports end up in.
    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    /// Puts the staged reports in the final folder's place, in one step,
    /// and removes what was there. Returns the final folder.
    ///
    /// # Errors
    /// When the folders cannot be swapped; the staged reports stay.
    pub fn commit(mut self) -> anyhow::Result<PathBuf> {
        exchange(&self.staging, &self.final_dir).with_context(|| {
            format!(
                "moving the reports from {} to {}",
                self.staging.display(),
                self.final_dir.display()
            )
        })?;
        self.committed = true;
        // The staging path now holds the old contents and the lock.
        let _ = std::fs::remove_dir_all(&self.staging);
        Ok(self.final_dir.clone())
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            release(&self.lock, &self.final_dir, self.created);
        }
    }
}

/// Makes `dir` (and its parents); whether it was made now.
fn make_dir(dir: &Path) -> Result<bool, Error> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the report folder's parent {}", parent.display()))
            .map_err(Error::Environment)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if dir.is_dir() {
                Ok(false)
            } else {
                Err(Error::Usage(format!(
                    "--out {}: exists and is not a folder\n  what to do: give the path of a folder for the reports",
                    dir.display()
                )))
            }
        }
        Err(e) => Err(Error::Environment(
            anyhow::Error::new(e).context(format!("creating the report folder {}", dir.display())),
        )),
    }
}

fn refuse_contents(dir: &Path) -> Result<(), Error> {
    let first = std::fs::read_dir(dir)
        .with_context(|| format!("reading the report folder {}", dir.display()))
        .map_err(Error::Environment)?
        .flatten()
        .find(|e| e.file_name() != LOCK);
    match first {
        None => Ok(()),
        Some(_) => Err(Error::Usage(format!(
            "--out {}: the folder exists and is not empty\n  what to do: give a new or empty folder, or add --force to replace its contents",
            dir.display()
        ))),
    }
}

/// Opens (or creates) the lock file and takes an exclusive `flock` on it
/// without waiting; another live claim holds it. A lock file unlinked by
/// its holder between our open and our lock is not the folder's any more:
/// the lock is taken again on the file the path names now.
fn take_lock(dir: &Path, created: bool) -> Result<(PathBuf, std::fs::File), Error> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    let lock = dir.join(LOCK);
    let environment = |e: std::io::Error| {
        release(&lock, dir, created);
        Error::Environment(
            anyhow::Error::new(e).context(format!("claiming the report folder {}", dir.display())),
        )
    };
    for _ in 0..8 {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(environment)?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let holder = std::fs::read_to_string(&lock).unwrap_or_default();
            return Err(Error::Usage(format!(
                "--out {}: another run (pid {}) is writing its reports there\n  what to do: give each run its own folder",
                dir.display(),
                holder.trim()
            )));
        }
        let same = match (file.metadata(), std::fs::metadata(&lock)) {
            (Ok(held), Ok(named)) => held.ino() == named.ino() && held.dev() == named.dev(),
            _ => false,
        };
        if same {
            file.set_len(0).map_err(environment)?;
            let _ = writeln!(file, "{}", std::process::id());
            return Ok((lock, file));
        }
    }
    Err(Error::Usage(format!(
        "--out {}: another run keeps claiming it\n  what to do: give each run its own folder",
        dir.display()
    )))
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn release(lock: &Path, dir: &Path, created: bool) {
    let _ = std::fs::remove_file(lock);
    if created {
        let _ = std::fs::remove_dir(dir);
    }
}

/// A fresh hidden folder beside `dir`, on the same file system so it can
/// take `dir`'s place.
fn make_staging(dir: &Path, name: &std::ffi::OsStr) -> anyhow::Result<PathBuf> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    remove_stale(parent, name);
    for _ in 0..16 {
        let staging = parent.join(format!(
            ".{}.seckill-{}-{:08x}",
            name.to_string_lossy(),
            std::process::id(),
            fastrand::u32(..)
        ));
        match std::fs::create_dir(&staging) {
            Ok(()) => return Ok(staging),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("creating {}", staging.display()));
            }
        }
    }
    anyhow::bail!("no free staging folder name beside {}", dir.display())
}

/// Staging folders for `name` left by runs that were killed (SIGKILL
/// leaves no chance to clean up): their pid is in the name.
fn remove_stale(parent: &Path, name: &std::ffi::OsStr) {
    let prefix = format!(".{}.seckill-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|pid| !crate::util::process::alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Swaps two folders atomically; where the file system cannot, moves the
/// old one aside first.
fn exchange(new: &Path, old: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c =
        |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(new)?, c(old)?);
    // SAFETY: two valid C strings, relative to the working directory.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if done == 0 {
        return Ok(());
    }
    match last_errno() {
        libc::ENOENT if !old.exists() => std::fs::rename(new, old),
        libc::EINVAL | libc::ENOSYS => {
            let aside = PathBuf::from(format!("{}-old", new.display()));
            std::fs::rename(old, &aside)?;
            std::fs::rename(new, old)?;
            std::fs::rename(&aside, new)
        }
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_with_contents_is_refused_without_force_and_replaced_with_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("old.csv"), "old").unwrap();
        let e = Claim::chosen(&dir, false).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        let claim = Claim::chosen(&dir, true).unwrap();
        std::fs::write(claim.staging().join("new.csv"), "new").unwrap();
        claim.commit().unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["new.csv"]);
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_killed_runs_lock_is_taken_without_force() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        std::fs::create_dir(&dir).unwrap();
        // What a SIGKILLed run leaves: the file, with no lock held on it.
        std::fs::write(dir.join(LOCK), "4194303\n").unwrap();
        let claim = Claim::chosen(&dir, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join(LOCK)).unwrap().trim(),
            std::process::id().to_string()
        );
        assert!(Claim::chosen(&dir, true).is_err(), "held while claimed");
        drop(claim);
    }

    #[test]
    fn a_claimed_folder_cannot_be_claimed_again_even_with_force() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let first = Claim::chosen(&dir, false).unwrap();
        assert!(Claim::chosen(&dir, false).is_err());
        let e = Claim::chosen(&dir, true).unwrap_err();
        assert!(e.to_string().contains("another run"), "{e}");
        drop(first);
        assert!(!dir.exists(), "an uncommitted claim removes what it made");
    }
}
