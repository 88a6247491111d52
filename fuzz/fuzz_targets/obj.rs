//! OBJ text of any content: `parse_obj` returns a mesh or an error naming the line, never
//! panics.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use m2f_mesh::{parse_obj, Units};

fuzz_target!(|data: &[u8]| {
    // `read_obj` refuses non-UTF-8 files before parsing; the parser sees text.
    if let Ok(text) = std::str::from_utf8(data) {
        for units in [Units::Metres, Units::Millimetres] {
            if let Ok(mesh) = parse_obj(text, Path::new("fuzz.obj"), units) {
                // A mesh that parses is one the rest of the crate can use.
                assert!(mesh
                    .triangles
                    .iter()
                    .flatten()
                    .all(|&i| (i as usize) < mesh.vertices.len()));
            }
        }
    }
});
