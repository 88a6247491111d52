//! A bounds-checked reader for the FlatBuffers binary format, just what a TFLite model needs:
//! tables with their vtables, scalars, strings, and vectors of scalars and of tables.
//!
//! Every read checks its offset against the buffer, so a truncated or hostile file gives an
//! error naming the field, never a panic or an out-of-bounds read. Format reference:
//! <https://flatbuffers.dev/internals/>.

/// A read failure: what was being read and why it failed.
pub type FbResult<T> = std::result::Result<T, String>;

/// A table inside a flatbuffer: its position and the position of its vtable.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
    /// The table's schema name, for error messages.
    name: &'static str,
}

fn read<const N: usize>(buf: &[u8], pos: usize, what: &str) -> FbResult<[u8; N]> {
    pos.checked_add(N)
        .and_then(|end| buf.get(pos..end))
        .map(|s| s.try_into().expect("slice of length N"))
        .ok_or_else(|| {
            format!(
                "{what}: offset {pos} + {N} past the end ({} bytes)",
                buf.len()
            )
        })
}

fn read_u32(buf: &[u8], pos: usize, what: &str) -> FbResult<u32> {
    read::<4>(buf, pos, what).map(u32::from_le_bytes)
}

/// Follows a `uoffset` stored at `pos` (relative to `pos` itself).
fn follow(buf: &[u8], pos: usize, what: &str) -> FbResult<usize> {
    let off = read_u32(buf, pos, what)? as usize;
    pos.checked_add(off)
        .filter(|&p| p < buf.len())
        .ok_or_else(|| format!("{what}: offset {off} at {pos} points past the end"))
}

impl<'a> Table<'a> {
    /// The root table of `buf`, checking the 4-byte file identifier after the root offset.
    pub fn root(buf: &'a [u8], identifier: &[u8; 4], name: &'static str) -> FbResult<Self> {
        let id = read::<4>(buf, 4, "file identifier")?;
        if &id != identifier {
            return Err(format!(
                "file identifier is {:?}, expected {:?}",
                String::from_utf8_lossy(&id),
                String::from_utf8_lossy(identifier)
            ));
        }
        let pos = follow(buf, 0, "root offset")?;
        Self::at(buf, pos, name)
    }

    fn at(buf: &'a [u8], pos: usize, name: &'static str) -> FbResult<Self> {
        let soff = i32::from_le_bytes(read::<4>(buf, pos, name)?) as i64;
        let vtable = usize::try_from(pos as i64 - soff).map_err(|_| {
            format!("{name}: vtable offset {soff} at {pos} points before the start")
        })?;
        let header = read::<4>(buf, vtable, name)?;
        let vtable_len = u16::from_le_bytes([header[0], header[1]]) as usize;
        if vtable_len < 4 || vtable + vtable_len > buf.len() {
            return Err(format!(
                "{name}: vtable at {vtable} of length {vtable_len} is malformed"
            ));
        }
        Ok(Self {
            buf,
            pos,
            vtable,
            vtable_len,
            name,
        })
    }

    /// Absolute position of field `index`'s value, or `None` when the field is absent.
    fn field(&self, index: usize) -> Option<usize> {
        let entry = 4 + 2 * index;
        if entry + 2 > self.vtable_len {
            return None;
        }
        let off = u16::from_le_bytes([
            self.buf[self.vtable + entry],
            self.buf[self.vtable + entry + 1],
        ]);
        (off != 0).then_some(self.pos + off as usize)
    }

    fn what(&self, field: &str) -> String {
        format!("{}.{field}", self.name)
    }

    /// A little-endian scalar field, or `default` when absent.
    pub fn scalar<T: Scalar>(&self, index: usize, field: &str, default: T) -> FbResult<T> {
        match self.field(index) {
            None => Ok(default),
            Some(pos) => T::read(self.buf, pos, &self.what(field)),
        }
    }

    /// A sub-table field, or `None` when absent.
    pub fn table(
        &self,
        index: usize,
        field: &str,
        name: &'static str,
    ) -> FbResult<Option<Table<'a>>> {
        match self.field(index) {
            None => Ok(None),
            Some(pos) => {
                let target = follow(self.buf, pos, &self.what(field))?;
                Table::at(self.buf, target, name).map(Some)
            }
        }
    }

    /// A string field, or `None` when absent. Invalid UTF-8 is replaced (names are only shown).
    pub fn string(&self, index: usize, field: &str) -> FbResult<Option<String>> {
        Ok(self
            .bytes(index, field)?
            .map(|b| String::from_utf8_lossy(b).into_owned()))
    }

    /// A `[ubyte]` (or string) field as a slice of the buffer, or `None` when absent.
    pub fn bytes(&self, index: usize, field: &str) -> FbResult<Option<&'a [u8]>> {
        let Some((start, len)) = self.vector(index, field, 1)? else {
            return Ok(None);
        };
        Ok(Some(&self.buf[start..start + len]))
    }

    /// A vector of scalars, or an empty vector when absent.
    pub fn scalars<T: Scalar>(&self, index: usize, field: &str) -> FbResult<Vec<T>> {
        let Some((start, len)) = self.vector(index, field, T::SIZE)? else {
            return Ok(Vec::new());
        };
        let what = self.what(field);
        (0..len)
            .map(|i| T::read(self.buf, start + i * T::SIZE, &what))
            .collect()
    }

    /// A vector of tables, or an empty vector when absent.
    pub fn tables(
        &self,
        index: usize,
        field: &str,
        name: &'static str,
    ) -> FbResult<Vec<Table<'a>>> {
        let Some((start, len)) = self.vector(index, field, 4)? else {
            return Ok(Vec::new());
        };
        let what = self.what(field);
        (0..len)
            .map(|i| {
                let target = follow(self.buf, start + 4 * i, &what)?;
                Table::at(self.buf, target, name)
            })
            .collect()
    }

    /// The start and element count of a vector field whose elements are `elem` bytes, checked to
    /// lie inside the buffer.
    fn vector(&self, index: usize, field: &str, elem: usize) -> FbResult<Option<(usize, usize)>> {
        let Some(pos) = self.field(index) else {
            return Ok(None);
        };
        let what = self.what(field);
        let vec = follow(self.buf, pos, &what)?;
        let len = read_u32(self.buf, vec, &what)? as usize;
        let start = vec + 4;
        let fits = len
            .checked_mul(elem)
            .and_then(|n| start.checked_add(n))
            .is_some_and(|end| end <= self.buf.len());
        if !fits {
            return Err(format!(
                "{what}: vector of {len} × {elem} bytes at {vec} runs past the end"
            ));
        }
        Ok(Some((start, len)))
    }
}

/// A fixed-size little-endian value stored in a flatbuffer.
pub trait Scalar: Sized + Copy {
    /// Its size in bytes.
    const SIZE: usize;
    /// Reads it at `pos`.
    fn read(buf: &[u8], pos: usize, what: &str) -> FbResult<Self>;
}

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn read(buf: &[u8], pos: usize, what: &str) -> FbResult<Self> {
                read::<{ std::mem::size_of::<$t>() }>(buf, pos, what).map(<$t>::from_le_bytes)
            }
        }
    )*};
}
scalar!(u8, i8, u16, i32, u32, i64, u64, f32);

impl Scalar for bool {
    const SIZE: usize = 1;
    fn read(buf: &[u8], pos: usize, what: &str) -> FbResult<Self> {
        u8::read(buf, pos, what).map(|b| b != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-built buffer: a root table at byte 12 with field 0 = 7 (i32), field 1 absent and
    /// field 2 a vector of two i32 at byte 36; its vtable at byte 24.
    fn sample() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&12u32.to_le_bytes()); // 0: root offset
        b.extend_from_slice(b"TEST"); // 4: file identifier
        b.extend_from_slice(&[0u8; 4]); // 8: padding
        b.extend_from_slice(&(-12i32).to_le_bytes()); // 12: table; vtable at 12 - (-12) = 24
        b.extend_from_slice(&7i32.to_le_bytes()); // 16: field 0
        b.extend_from_slice(&16u32.to_le_bytes()); // 20: field 2, vector at 20 + 16 = 36
                                                   // 24: vtable: its length, the table's length, field offsets 4, absent, 8.
        for v in [10u16, 12, 4, 0, 8] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0u8; 2]); // 34: padding
        b.extend_from_slice(&2u32.to_le_bytes()); // 36: vector length, then its values
        b.extend_from_slice(&5i32.to_le_bytes());
        b.extend_from_slice(&(-6i32).to_le_bytes());
        b
    }

    #[test]
    fn reads_fields_vectors_and_defaults() {
        let buf = sample();
        let t = Table::root(&buf, b"TEST", "Root").unwrap();
        assert_eq!(t.scalar::<i32>(0, "a", 0).unwrap(), 7);
        assert_eq!(t.scalar::<i32>(1, "b", 42).unwrap(), 42);
        assert_eq!(t.scalars::<i32>(2, "c").unwrap(), vec![5, -6]);
        assert!(t.scalars::<i32>(3, "d").unwrap().is_empty());
    }

    #[test]
    fn truncation_and_wrong_identifier_are_errors() {
        let buf = sample();
        assert!(Table::root(&buf, b"TFL3", "Root")
            .unwrap_err()
            .contains("identifier"));
        for cut in 0..buf.len() {
            // Every prefix either fails to open or fails on the read that runs past its end.
            let short = &buf[..cut];
            let ok = Table::root(short, b"TEST", "Root")
                .and_then(|t| Ok((t.scalar::<i32>(0, "a", 0)?, t.scalars::<i32>(2, "c")?)));
            assert!(ok.is_err(), "prefix of {cut} bytes read as {ok:?}");
        }
    }
}
