//! NumPy's `.npz` (a zip of `.npy` arrays, stored uncompressed), for the animation's arrays:
//! what `numpy.load` reads with no other package.

use std::io::Write;

/// One array: little-endian f32 values of `shape`, or fixed-width unicode strings.
pub(crate) enum NpyArray<'a> {
    /// Values in C order.
    F32 {
        shape: Vec<usize>,
        values: &'a [f32],
    },
    /// One dimension of strings.
    Strings(&'a [String]),
}

impl NpyArray<'_> {
    /// The `.npy` file: magic, version 1.0, a header padded to 64 bytes, the data.
    fn bytes(&self) -> Vec<u8> {
        let (descr, shape, data) = match self {
            Self::F32 { shape, values } => {
                let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                ("<f4".to_string(), shape.clone(), data)
            }
            Self::Strings(strings) => {
                // UTF-32, each string padded with zeros to the longest.
                let width = strings
                    .iter()
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(1);
                let mut data = Vec::with_capacity(strings.len() * width * 4);
                for s in strings.iter() {
                    let n = s.chars().count();
                    data.extend(s.chars().flat_map(|c| (c as u32).to_le_bytes()));
                    data.extend(std::iter::repeat_n(0u8, (width - n) * 4));
                }
                (format!("<U{width}"), vec![strings.len()], data)
            }
        };
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        let shape = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        // magic (6) + version (2) + header length (2) + header + '\n' ≡ 0 mod 64.
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + data.len());
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&data);
        out
    }
}

/// Writes `arrays` as `NAME.npy` members of an `.npz` to `w`.
pub(crate) fn write_npz(w: &mut dyn Write, arrays: &[(&str, NpyArray<'_>)]) -> std::io::Result<()> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            // A fixed time (1980-01-01), not the clock: the same animation, the same bytes.
            .last_modified_time(zip::DateTime::default())
            .large_file(true);
        for (name, array) in arrays {
            zip.start_file(format!("{name}.npy"), options)
                .map_err(std::io::Error::other)?;
            zip.write_all(&array.bytes())?;
        }
        zip.finish().map_err(std::io::Error::other)?;
    }
    w.write_all(buffer.get_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_headers_are_aligned_and_describe_the_data() {
        let values = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let bytes = NpyArray::F32 {
            shape: vec![2, 3],
            values: &values,
        }
        .bytes();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(
            header.contains("'descr': '<f4'") && header.contains("'shape': (2, 3)"),
            "{header}"
        );
        assert_eq!(bytes.len(), 10 + header_len + 24);
        let scalar = NpyArray::F32 {
            shape: vec![],
            values: &values[..1],
        }
        .bytes();
        assert!(String::from_utf8_lossy(&scalar).contains("'shape': ()"));
        let names = ["ab".to_string(), "c".to_string()];
        let strings = NpyArray::Strings(&names).bytes();
        let text = String::from_utf8_lossy(&strings);
        assert!(
            text.contains("'descr': '<U2'") && text.contains("'shape': (2,)"),
            "{text}"
        );
        // UTF-32: "ab", then "c" and a zero.
        let n = strings.len();
        assert_eq!(&strings[n - 16..n - 8], &[b'a', 0, 0, 0, b'b', 0, 0, 0]);
        assert_eq!(&strings[n - 8..], &[b'c', 0, 0, 0, 0, 0, 0, 0]);
    }
}
