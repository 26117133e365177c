//! Reading a file the user named, within a size that fits its kind.
//!
//! Every file the harness reads on the user's say-so (the scenario, a Lua
//! script, a certificate, a report to compare) goes through [`read`]: it
//! refuses anything but a regular file (a device such as `/dev/zero`, a
//! FIFO, a directory), and refuses a file larger than its kind's limit both
//! before reading (its size) and while reading (a file that grows, or lies
//! about its size), so a wrong path can never exhaust the machine's memory.
//! It does not say which field named the file: callers put that around the
//! [`ReadError`].

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// A kind of input file and the most bytes one may hold.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// What the file is, for messages: "a Lua script".
    pub what: &'static str,
    pub limit: u64,
}

const MIB: u64 = 1024 * 1024;

/// A scenario (TOML): hand-written, a few KB in practice.
pub const SCENARIO: Kind = Kind {
    what: "a scenario file",
    limit: 4 * MIB,
};

/// A Lua script or Redis Function library. Redis itself keeps scripts in
/// memory and sends them whole; a few MB is far beyond any real one.
pub const LUA_SCRIPT: Kind = Kind {
    what: "a Lua script",
    limit: 4 * MIB,
};

/// A PEM certificate, chain or key: a CA bundle is a few hundred KB.
pub const CERTIFICATE: Kind = Kind {
    what: "a PEM certificate or key",
    limit: 512 * 1024,
};

/// A report CSV to compare: a sweep of thousands of points is still a few MB.
pub const REPORT_CSV: Kind = Kind {
    what: "a report CSV",
    limit: 64 * MIB,
};

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it holds {}, more than the {} allowed for {}", human(*.size, *.more), human(.kind.limit, false), .kind.what)]
    TooBig {
        size: u64,
        /// The size is a lower bound: the read stopped at the limit.
        more: bool,
        kind: Kind,
    },
    #[error("it is not UTF-8 text")]
    NotText,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ReadError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            ReadError::NotRegular(_) => "give the path of a regular file".to_owned(),
            ReadError::TooBig { kind, .. } => {
                format!("check the path: give the path of {}", kind.what)
            }
            ReadError::NotText => "save the file as UTF-8 text".to_owned(),
            ReadError::Io(_) => "check the path and the file's permissions".to_owned(),
        }
    }
}

fn human(bytes: u64, more: bool) -> String {
    let over = if more { "more than " } else { "" };
    if bytes >= MIB {
        format!("{over}{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{over}{} KiB", bytes.div_ceil(1024))
    }
}

/// The whole file at `path`, if it is a regular file within `kind`'s limit.
///
/// # Errors
/// Not a regular file, larger than the limit (before or while reading), or
/// an I/O error.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, ReadError> {
    check(&std::fs::metadata(path)?, kind)?;
    // O_NONBLOCK: a path swapped for a FIFO after the check does not hang
    // the open; the second check, on the open file, then refuses it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    check(&file.metadata()?, kind)?;
    let mut bytes = Vec::new();
    file.take(kind.limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > kind.limit {
        return Err(ReadError::TooBig {
            size: kind.limit,
            more: true,
            kind,
        });
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
///
/// # Errors
/// As [`read`], and when the file is not UTF-8.
pub fn read_string(path: &Path, kind: Kind) -> Result<String, ReadError> {
    String::from_utf8(read(path, kind)?).map_err(|_| ReadError::NotText)
}

fn check(meta: &std::fs::Metadata, kind: Kind) -> Result<(), ReadError> {
    let t = meta.file_type();
    let other = if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    };
    if let Some(other) = other {
        return Err(ReadError::NotRegular(other));
    }
    if meta.len() > kind.limit {
        return Err(ReadError::TooBig {
            size: meta.len(),
            more: false,
            kind,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Kind = Kind {
        what: "a tiny file",
        limit: 8,
    };

    #[test]
    fn a_device_is_refused_before_a_byte_is_read() {
        let e = read(Path::new("/dev/zero"), LUA_SCRIPT).unwrap_err();
        assert!(
            matches!(e, ReadError::NotRegular("a character device")),
            "{e}"
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"123456789").unwrap();
        let e = read(&path, TINY).unwrap_err();
        assert!(e.to_string().contains("allowed for a tiny file"), "{e}");
        std::fs::write(&path, b"12345678").unwrap();
        assert_eq!(read(&path, TINY).unwrap(), b"12345678");
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), TINY).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }
}
