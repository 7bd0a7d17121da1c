//! The reproducible zip encoding of a bundle, streamed to any `Write` (no I/O of its own): entries in
//! path order, stored (no compression backend whose output could vary), 1980-01-01 timestamps, Unix
//! modes, sizes and CRCs known before each entry so nothing is ever sought back to; ZIP64 end records
//! past 65,535 entries.

use crate::bundle::Bundle;
use std::io::{Error, Result, Write};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const END64_LOCATOR: u32 = 0x0706_4b50;
/// MS-DOS date of 1980-01-01 (day 1, month 1, year 0), time 00:00:00.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
/// Made by Unix (3), spec version 6.3 (ZIP64 end records need 4.5).
const MADE_BY: u16 = (3 << 8) | 63;
const NEEDED: u16 = 10;
const NEEDED64: u16 = 45;
/// General purpose flag bit 11: the name is UTF-8.
const UTF8: u16 = 1 << 11;
const S_IFREG: u32 = 0o100000;

/// Counts the bytes written through it, so offsets need no `Seek`.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Counting<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.inner.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

fn u16le(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u32le(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u64le(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn fits32(what: &str, path: &str, x: u64) -> Result<u32> {
    u32::try_from(x).ok().filter(|&v| v != u32::MAX).ok_or_else(|| {
        Error::other(format!("{path}: {what} past 4 GiB, more than this zip encoding holds; render to a directory"))
    })
}

/// Writes the bundle as a zip archive to `out` and returns `out`. The bytes depend on the bundle alone;
/// errors are the writer's, or a bundle past 4 GiB.
pub fn write<W: Write>(bundle: &Bundle, out: W) -> Result<W> {
    let mut w = Counting { inner: out, written: 0 };
    let mut central = Vec::with_capacity(bundle.len() * 100);
    let mut header = Vec::with_capacity(256);
    for (path, e) in bundle.iter() {
        let name = path.as_bytes();
        let name_len = u16::try_from(name.len()).map_err(|_| Error::other(format!("{path}: name too long")))?;
        let flags = if path.is_ascii() { 0 } else { UTF8 };
        let crc = crc32fast::hash(&e.bytes);
        let size = fits32("size", path, e.bytes.len() as u64)?;
        let offset = fits32("offset", path, w.written)?;
        header.clear();
        u32le(&mut header, LOCAL_HEADER);
        for x in [NEEDED, flags, 0, DOS_TIME, DOS_DATE] {
            u16le(&mut header, x);
        }
        for x in [crc, size, size] {
            u32le(&mut header, x);
        }
        u16le(&mut header, name_len);
        u16le(&mut header, 0); // extra field length
        header.extend_from_slice(name);
        w.put(&header)?;
        w.put(&e.bytes)?;

        u32le(&mut central, CENTRAL_HEADER);
        for x in [MADE_BY, NEEDED, flags, 0, DOS_TIME, DOS_DATE] {
            u16le(&mut central, x);
        }
        for x in [crc, size, size] {
            u32le(&mut central, x);
        }
        // name length, extra length, comment length, disk number, internal attributes
        for x in [name_len, 0, 0, 0, 0] {
            u16le(&mut central, x);
        }
        u32le(&mut central, (S_IFREG | (e.mode & 0o7777)) << 16);
        u32le(&mut central, offset);
        central.extend_from_slice(name);
    }
    let cd_offset = w.written;
    let cd_size = central.len() as u64;
    let entries = bundle.len() as u64;
    w.put(&central)?;
    let mut end = Vec::with_capacity(98);
    let small = |x: u64, max: u64| if x >= max { None } else { Some(x) };
    let (n16, size32, off32) = (small(entries, 0xFFFF), small(cd_size, 0xFFFF_FFFF), small(cd_offset, 0xFFFF_FFFF));
    if n16.is_none() || size32.is_none() || off32.is_none() {
        let end64_offset = w.written;
        u32le(&mut end, END64);
        u64le(&mut end, 44); // size of the rest of this record
        for x in [MADE_BY, NEEDED64] {
            u16le(&mut end, x);
        }
        for x in [0, 0] {
            u32le(&mut end, x); // this disk, disk with the central directory
        }
        for x in [entries, entries, cd_size, cd_offset] {
            u64le(&mut end, x);
        }
        u32le(&mut end, END64_LOCATOR);
        u32le(&mut end, 0);
        u64le(&mut end, end64_offset);
        u32le(&mut end, 1); // total disks
    }
    u32le(&mut end, END);
    for x in [0, 0] {
        u16le(&mut end, x); // this disk, disk with the central directory
    }
    let n = n16.map_or(0xFFFF, |x| x as u16);
    for x in [n, n] {
        u16le(&mut end, x);
    }
    u32le(&mut end, size32.map_or(0xFFFF_FFFF, |x| x as u32));
    u32le(&mut end, off32.map_or(0xFFFF_FFFF, |x| x as u32));
    u16le(&mut end, 0); // comment length
    w.put(&end)?;
    Ok(w.inner)
}

/// The exact size `write` produces, for a buffer allocated once.
pub fn encoded_len(bundle: &Bundle) -> usize {
    let per_entry: usize = bundle.iter().map(|(p, e)| 30 + 46 + 2 * p.len() + e.bytes.len()).sum();
    let zip64 = if bundle.len() >= 0xFFFF || per_entry >= 0xFFFF_FFFF { 56 + 20 } else { 0 };
    per_entry + zip64 + 22
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{MODE_EXEC, MODE_PUBLIC, MODE_SECRET};
    use std::io::{Cursor, Read};

    fn read_back(bytes: Vec<u8>) -> Vec<(String, u32, Vec<u8>)> {
        let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        (0..z.len())
            .map(|i| {
                let mut f = z.by_index(i).unwrap();
                let mut data = Vec::new();
                f.read_to_end(&mut data).unwrap();
                (f.name().to_string(), f.unix_mode().unwrap(), data)
            })
            .collect()
    }

    #[test]
    fn entries_modes_and_bytes_read_back() -> crate::Result<()> {
        let mut b = Bundle::new();
        b.add("z/k.key", "secret\n", MODE_SECRET)?;
        b.add("a.sh", "#!/bin/sh\n", MODE_EXEC)?;
        b.add("empty", "", MODE_PUBLIC)?;
        b.add("ünï/ok", "x", MODE_PUBLIC)?;
        let z = write(&b, Vec::new()).unwrap();
        assert_eq!(z.len(), encoded_len(&b));
        assert_eq!(z, write(&b.clone(), Vec::new()).unwrap(), "same bundle, same bytes");
        let got = read_back(z);
        let want: Vec<(String, u32, Vec<u8>)> =
            b.iter().map(|(p, e)| (p.clone(), S_IFREG | e.mode, e.bytes.clone())).collect();
        assert_eq!(got, want);
        Ok(())
    }

    #[test]
    fn zip64_end_records_past_65535_entries() -> crate::Result<()> {
        let mut b = Bundle::new();
        for i in 0..70_000 {
            b.add(format!("d{}/f{i}", i % 7), format!("{i}"), MODE_PUBLIC)?;
        }
        let z = write(&b, Vec::new()).unwrap();
        assert_eq!(z.len(), encoded_len(&b));
        let got = read_back(z);
        assert_eq!(got.len(), 70_000);
        assert!(got.iter().zip(b.iter()).all(|(g, (p, e))| &g.0 == p && g.2 == e.bytes));
        Ok(())
    }
}
