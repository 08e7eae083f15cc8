//! Archives: zip (the `zip` crate), tar and gzip-compressed tar (`tar`,
//! `flate2`). The crates parse; every entry goes through [`Unpacker`], which
//! decides what lands on disk.

use std::io::Read;
use std::path::Path;

use super::unpack::{shown, Unpacker};
use super::IntakeError;

/// Unix file-type bits of a mode.
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;

fn corrupt(what: &str, e: impl std::fmt::Display) -> IntakeError {
    IntakeError::Rejected(format!("the {what} is corrupt or not one: {}", shown(e.to_string().as_bytes())))
}

/// A zip archive. Encrypted entries, entries in a compression method other
/// than stored or deflated, and device, FIFO or socket entries are refused.
pub(crate) fn unzip(file: std::fs::File, out: &mut Unpacker, max_entries: u64) -> Result<(), IntakeError> {
    let mut zip = zip::ZipArchive::new(file).map_err(|e| corrupt("zip archive", e))?;
    if zip.len() as u64 > max_entries {
        return Err(IntakeError::Rejected(format!(
            "the archive has {} entries, over the cap of {max_entries}",
            zip.len()
        )));
    }
    for i in 0..zip.len() {
        // Local headers must agree with the central directory: two readers
        // of one archive (ours, a reviewer's unzip) then see the same files.
        let options = zip::ZipReadOptions::new().enforce_header_consistency(true);
        let name = zip.name_for_index(i).and_then(|n| n.ok()).map(|n| n.into_owned()).unwrap_or_default();
        let mut entry = match zip.by_index_with_options(i, options) {
            Ok(e) => e,
            Err(zip::result::ZipError::UnsupportedArchive(m)) if m == zip::result::ZipError::PASSWORD_REQUIRED => {
                return Err(IntakeError::Rejected(format!(
                    "the archive is encrypted (entry {:?}); send it without a password",
                    shown(name.as_bytes())
                )));
            }
            Err(zip::result::ZipError::CompressionMethodNotSupported(m)) => {
                return Err(IntakeError::Rejected(format!(
                    "the archive uses compression method {m}; only stored and deflated entries are read"
                )))
            }
            Err(e) => return Err(corrupt("zip archive", e)),
        };
        let raw = entry.name_raw().to_vec();
        if entry.encrypted() {
            return Err(IntakeError::Rejected(format!(
                "the archive is encrypted (entry {:?}); send it without a password",
                shown(&raw)
            )));
        }
        let mode = entry.unix_mode();
        let kind = mode.map(|m| m & S_IFMT).filter(|&k| k != 0);
        if entry.is_dir() {
            out.dir(&raw)?;
        } else if entry.is_symlink() {
            let mut target = Vec::new();
            (&mut entry).take(4097).read_to_end(&mut target).map_err(|e| corrupt("zip archive", e))?;
            if target.len() > 4096 {
                return Err(IntakeError::Rejected(format!(
                    "entry {:?} is a link with a target over 4096 bytes",
                    shown(&raw)
                )));
            }
            out.symlink(&raw, &target)?;
        } else if kind.is_none_or(|k| k == S_IFREG) {
            let executable = mode.is_some_and(|m| m & 0o111 != 0);
            out.file(&raw, &mut entry, executable)?;
        } else if kind == Some(S_IFDIR) {
            out.dir(&raw)?;
        } else {
            return Err(IntakeError::Rejected(format!(
                "entry {:?} is a device, FIFO or socket (mode {:o}): only files, folders and links are taken",
                shown(&raw),
                mode.unwrap_or(0)
            )));
        }
    }
    Ok(())
}

/// A tar stream (plain, or gzip-decoded by the caller).
pub(crate) fn untar(reader: impl Read, out: &mut Unpacker, what: &str) -> Result<(), IntakeError> {
    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(|e| corrupt(what, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(what, e))?;
        let raw = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        use tar::EntryType as T;
        match kind {
            T::Directory => out.dir(&raw)?,
            T::Regular | T::Continuous | T::GNUSparse => {
                let executable = entry.header().mode().map(|m| m & 0o111 != 0).unwrap_or(false);
                out.file(&raw, &mut entry, executable)?;
            }
            T::Symlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                out.symlink(&raw, &target)?;
            }
            T::Link => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                out.hardlink(&raw, &target)?;
            }
            // Metadata the crate already applied (long names, pax records).
            T::XHeader | T::XGlobalHeader | T::GNULongName | T::GNULongLink => {}
            T::Char | T::Block | T::Fifo => {
                return Err(IntakeError::Rejected(format!(
                    "entry {:?} is a device or FIFO: only files, folders and links are taken",
                    shown(&raw)
                )))
            }
            other => {
                return Err(IntakeError::Rejected(format!(
                    "entry {:?} is of a tar type this grader does not take ({:?})",
                    shown(&raw),
                    other.as_byte() as char
                )))
            }
        }
    }
    Ok(())
}

/// The gzip layer of a `.tar.gz`: a decoding error is the archive's.
pub(crate) fn untar_gz(file: std::fs::File, out: &mut Unpacker) -> Result<(), IntakeError> {
    untar(flate2::read::GzDecoder::new(std::io::BufReader::new(file)), out, "gzip-compressed tar archive")
}

/// Opens an archive file without following a link.
pub(crate) fn open(path: &Path) -> Result<std::fs::File, IntakeError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| IntakeError::Rejected(format!("cannot open the archive: {e}")))
}
