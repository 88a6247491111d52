//! OBJ files nobody checked: every malformed one is an error naming the line, never a panic.

use std::path::Path;

use m2f_mesh::{parse_obj, MeshError, Units};

const TRIANGLE: &str = "v 0 0 0\nv 1 0 0\nv 0 1 0\n";

/// Parses `text` and returns the error's line and message; panics if it parses.
fn refused(text: &str) -> (usize, String) {
    match parse_obj(text, Path::new("bad.obj"), Units::Metres) {
        Err(MeshError::Obj {
            path,
            line,
            message,
        }) => {
            assert_eq!(path, Path::new("bad.obj"));
            (line, message)
        }
        Err(other) => panic!("{text:?}: expected an OBJ error, got {other}"),
        Ok(_) => panic!("{text:?} parsed"),
    }
}

#[test]
fn a_valid_triangle_parses_with_its_texture_coordinates() {
    let text = format!("{TRIANGLE}vt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n");
    let mesh = parse_obj(&text, Path::new("ok.obj"), Units::Metres).expect("valid OBJ");
    assert_eq!(mesh.triangles, vec![[0, 1, 2]]);
    assert_eq!(mesh.uvs, Some(vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]));
    // Negative indices count back from the end of the list so far.
    let mesh = parse_obj(
        &format!("{TRIANGLE}f -3 -2 -1\n"),
        Path::new("ok.obj"),
        Units::Metres,
    )
    .expect("relative indices");
    assert_eq!(mesh.triangles, vec![[0, 1, 2]]);
}

#[test]
fn a_texture_index_past_the_list_is_refused() {
    let (line, message) = refused(&format!("{TRIANGLE}vt 0 0\nf 1/1 2/1 3/9\n"));
    assert_eq!(line, 5);
    assert!(message.contains("texture coordinate index 9"), "{message}");
}

#[test]
fn extreme_indices_are_refused() {
    for (index, expected) in [
        ("-9223372036854775808", "reaches before the first element"),
        ("9223372036854775807", "refers past the 3 vertices"),
        ("0", "index 0 is not valid"),
        ("1.5", "not an integer index"),
        ("-4", "reaches before the first element"),
    ] {
        let (line, message) = refused(&format!("{TRIANGLE}f 1 2 {index}\n"));
        assert_eq!(line, 4, "{index}");
        assert!(message.contains(expected), "{index}: {message}");
    }
    let (_, message) = refused(&format!("{TRIANGLE}vt 0 0\nf 1/-9223372036854775808 2 3\n"));
    assert!(message.contains("texcoord"), "{message}");
}

#[test]
fn malformed_lines_are_refused() {
    for (text, line, expected) in [
        ("v 0 0\n", 1, "expected 3 numbers"),
        ("v 0 nan 0\n", 1, "not finite"),
        ("v 0 zero 0\n", 1, "not a number"),
        ("v 0 0 0\nvt 1\n", 2, "expected 2 numbers"),
        ("v 0 0 0\nv 1 0 0\nf 1 2\n", 3, "at least 3"),
        ("# nothing\n", 0, "no vertices"),
    ] {
        let (l, message) = refused(text);
        assert_eq!(l, line, "{text:?}");
        assert!(message.contains(expected), "{text:?}: {message}");
    }
}
