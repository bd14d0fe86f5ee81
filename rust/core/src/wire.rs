//! The byte-level pieces shared by ferroq-core's binary formats (circuits,
//! results): little-endian integers and floats, u64 lengths, UTF-8 strings,
//! and a reader that trusts nothing: it refuses a length its input cannot
//! back before allocating anything for it, naming what it read and where.

use crate::error::{Error, Result};

/// Appends little-endian values to a byte string.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) out: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_capacity(bytes: usize) -> Writer {
        Writer {
            out: Vec::with_capacity(bytes),
        }
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.out.extend_from_slice(s.as_bytes());
    }
}

/// Reads a byte string front to back; every read names what it reads, so
/// a refusal says what was truncated or wrong, and where.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pub(crate) pos: usize,
}

pub(crate) fn invalid(offset: usize, reason: String) -> Error {
    Error::InvalidEncoding { offset, reason }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(invalid(
                self.pos,
                format!(
                    "truncated: {what} needs {n} byte(s), {} left",
                    self.remaining()
                ),
            ));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64> {
        self.array::<8>(what).map(u64::from_le_bytes)
    }

    pub(crate) fn f64(&mut self, what: &str) -> Result<f64> {
        self.array::<8>(what).map(f64::from_le_bytes)
    }

    pub(crate) fn usize(&mut self, what: &str) -> Result<usize> {
        let at = self.pos;
        let v = self.u64(what)?;
        usize::try_from(v).map_err(|_| invalid(at, format!("{what} {v} does not fit in memory")))
    }

    /// A count of items of `item_bytes` each, refused unless that many bytes
    /// are left: nothing is ever allocated for a length the input cannot back.
    pub(crate) fn count(&mut self, item_bytes: usize, what: &str) -> Result<usize> {
        let at = self.pos;
        let n = self.u64(what)?;
        let needed = n.checked_mul(item_bytes as u64);
        match needed {
            Some(bytes) if bytes <= self.remaining() as u64 => Ok(n as usize),
            _ => Err(invalid(
                at,
                format!(
                    "{what} is {n}, which needs more than the {} byte(s) left",
                    self.remaining()
                ),
            )),
        }
    }

    pub(crate) fn str(&mut self, what: &str) -> Result<&'a str> {
        let n = self.count(1, what)?;
        let at = self.pos;
        let bytes = self.take(n, what)?;
        std::str::from_utf8(bytes).map_err(|e| invalid(at, format!("{what} is not UTF-8: {e}")))
    }
}
