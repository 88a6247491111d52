//! Renderer tests on the MediaPipe template.

use m2f_mesh::{project, render, Camera, FaceTemplate, HeadPose, MeshError, RenderOptions};
use m2f_mesh::{HoleFill, MOUTH_COLOR};

fn face_fraction(img: &image::RgbImage, background: [u8; 3]) -> f32 {
    let face = img.pixels().filter(|p| p.0 != background).count();
    face as f32 / (img.width() * img.height()) as f32
}

#[test]
fn template_fills_a_sensible_part_of_the_frame() {
    let t = FaceTemplate::mediapipe();
    let cam = Camera::framing(&t.mesh.vertices);
    let opts = RenderOptions::default();
    let img = render(&t.mesh.vertices, &t.mesh.triangles, &cam, &opts).unwrap();
    assert_eq!(img.dimensions(), (256, 256));
    let f = face_fraction(&img, opts.background);
    assert!((0.25..=0.8).contains(&f), "face covers {f:.3} of the image");
    // The framing margin leaves the border rows and columns empty.
    for i in 0..256 {
        for p in [(i, 0), (i, 255), (0, i), (255, i)] {
            assert_eq!(img.get_pixel(p.0, p.1).0, opts.background, "pixel {p:?}");
        }
    }
}

#[test]
fn symmetric_template_renders_left_right_symmetric() {
    let t = FaceTemplate::mediapipe();
    let cam = Camera::framing(&t.mesh.vertices);
    // A light straight ahead, so that shading is symmetric too, not only the silhouette.
    let opts = RenderOptions {
        light_dir: [0.0, 0.3, 1.0],
        ..RenderOptions::default()
    };
    let img = render(&t.mesh.vertices, &t.mesh.triangles, &cam, &opts).unwrap();
    let (w, h) = img.dimensions();
    let (mut silhouette_diff, mut shade_diff, mut n) = (0usize, 0u64, 0u64);
    for y in 0..h {
        for x in 0..w / 2 {
            let a = img.get_pixel(x, y).0;
            let b = img.get_pixel(w - 1 - x, y).0;
            if (a == opts.background) != (b == opts.background) {
                silhouette_diff += 1;
            } else if a != opts.background {
                shade_diff += (a[1] as i64 - b[1] as i64).unsigned_abs();
                n += 1;
            }
        }
    }
    let face = img.pixels().filter(|p| p.0 != opts.background).count();
    assert!(
        (silhouette_diff as f32) < 0.02 * face as f32,
        "{silhouette_diff} silhouette pixels differ from their mirror ({face} face pixels)"
    );
    let mean = shade_diff as f32 / n as f32;
    assert!(
        mean < 4.0,
        "mean shading difference to the mirror image {mean}"
    );
}

#[test]
fn head_turn_changes_the_image_and_keeps_the_camera() {
    let t = FaceTemplate::mediapipe();
    let cam = Camera::framing(&t.mesh.vertices);
    let opts = RenderOptions::default();
    let neutral = render(&t.mesh.vertices, &t.mesh.triangles, &cam, &opts).unwrap();
    let turned_v = HeadPose::from_array([0.0, 0.5, 0.0, 0.0, 0.0, 0.0]).apply(&t.mesh.vertices);
    let turned = render(&turned_v, &t.mesh.triangles, &cam, &opts).unwrap();
    let changed = neutral
        .pixels()
        .zip(turned.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 5000, "only {changed} pixels changed");
    // Turning towards the subject's left (+x) moves the nose tip to the image's right.
    let nose = t.regions.landmarks.nose_tip as usize;
    let before = project(&cam, t.mesh.vertices[nose]).unwrap();
    let after = project(&cam, turned_v[nose]).unwrap();
    assert!(
        after[0] > before[0] + 10.0,
        "nose moved from {before:?} to {after:?}"
    );
}

#[test]
fn nose_tip_projects_near_the_centre_and_onto_a_face_pixel() {
    let t = FaceTemplate::mediapipe();
    let cam = Camera::framing(&t.mesh.vertices);
    let nose = t.mesh.vertices[t.regions.landmarks.nose_tip as usize];
    let [x, y] = project(&cam, nose).unwrap();
    assert!(
        (x - 128.0).abs() < 8.0 && (y - 128.0).abs() < 30.0,
        "nose at ({x}, {y})"
    );
    // The subject's left eye corner is on the image's right; the forehead above the chin.
    let lm = t.regions.landmarks;
    let p = |i: u32| project(&cam, t.mesh.vertices[i as usize]).unwrap();
    assert!(p(lm.left_eye_outer)[0] > p(lm.right_eye_outer)[0]);
    assert!(p(lm.forehead)[1] < p(lm.chin)[1]);
    let opts = RenderOptions::default();
    let img = render(&t.mesh.vertices, &t.mesh.triangles, &cam, &opts).unwrap();
    assert_ne!(img.get_pixel(x as u32, y as u32).0, opts.background);
}

#[test]
fn points_behind_the_camera_do_not_project_or_panic() {
    let t = FaceTemplate::mediapipe();
    let cam = Camera::framing(&t.mesh.vertices);
    let behind = [cam.eye[0], cam.eye[1], cam.eye[2] + 0.5];
    assert_eq!(project(&cam, behind), None);
    assert_eq!(project(&cam, [f32::NAN, 0.0, 0.0]), None);
    // A mesh straddling the camera, degenerate triangles, and non-finite vertices render.
    let mut v = t.mesh.vertices.clone();
    v[0] = behind;
    v[1] = [f32::INFINITY, 0.0, 0.0];
    v[2] = cam.eye;
    let mut tris = t.mesh.triangles.clone();
    tris.push([5, 5, 5]);
    tris.push([3, 4, 3]);
    tris.push([0, 1, 2]);
    let img = render(&v, &tris, &cam, &RenderOptions::default()).unwrap();
    assert_eq!(img.dimensions(), (256, 256));
}

#[test]
fn open_mouth_shows_the_mouth_fill() {
    let t = FaceTemplate::mediapipe();
    let cam = Camera::framing(&t.mesh.vertices);
    let mut v = t.mesh.vertices.clone();
    for &j in &t.regions.jaw {
        v[j as usize][1] -= 0.012;
    }
    let plain = RenderOptions::default();
    let filled = RenderOptions::default().with_face_fills(&t.regions);
    let count = |img: &image::RgbImage, c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
    let open = count(
        &render(&v, &t.mesh.triangles, &cam, &filled).unwrap(),
        MOUTH_COLOR,
    );
    assert!(open > 300, "mouth fill covers only {open} pixels");
    // The neutral's nearly closed lips show much less of it, and without fills the
    // membrane across the mouth is shaded like skin.
    let neutral = render(&t.mesh.vertices, &t.mesh.triangles, &cam, &filled).unwrap();
    assert!(count(&neutral, MOUTH_COLOR) < open / 3);
    let img = render(&v, &t.mesh.triangles, &cam, &plain).unwrap();
    assert_eq!(count(&img, MOUTH_COLOR), 0);
}

#[test]
fn turned_head_hides_the_mouth_fill_behind_the_lips() {
    // The fill is depth-tested: in profile, the far half of the mouth is out of sight.
    let t = FaceTemplate::mediapipe();
    let cam = Camera::framing(&t.mesh.vertices);
    let mut v = t.mesh.vertices.clone();
    for &j in &t.regions.jaw {
        v[j as usize][1] -= 0.012;
    }
    let filled = RenderOptions::default().with_face_fills(&t.regions);
    let count = |v: &[[f32; 3]]| {
        let img = render(v, &t.mesh.triangles, &cam, &filled).unwrap();
        img.pixels().filter(|p| p.0 == MOUTH_COLOR).count()
    };
    let front = count(&v);
    let side = count(&HeadPose::from_array([0.0, 1.3, 0.0, 0.0, 0.0, 0.0]).apply(&v));
    assert!(side < front / 2, "front {front}, side {side}");
}

#[test]
fn renderer_is_watertight_at_odd_sizes() {
    let t = FaceTemplate::mediapipe();
    let opts = RenderOptions::default();
    for size in [(97, 131), (256, 256), (333, 200)] {
        let cam = Camera::framing_sized(&t.mesh.vertices, size.0, size.1);
        let img = render(&t.mesh.vertices, &t.mesh.triangles, &cam, &opts).unwrap();
        assert_eq!(img.dimensions(), size);
        let bg = |x: u32, y: u32| img.get_pixel(x, y).0 == opts.background;
        for y in 1..size.1 - 1 {
            for x in 1..size.0 - 1 {
                let enclosed = !bg(x - 1, y) && !bg(x + 1, y) && !bg(x, y - 1) && !bg(x, y + 1);
                assert!(!(bg(x, y) && enclosed), "crack at ({x}, {y}) in {size:?}");
            }
        }
    }
}

#[test]
fn bad_inputs_are_errors_naming_the_field() {
    let t = FaceTemplate::mediapipe();
    let cam = Camera::framing(&t.mesh.vertices);
    let opts = RenderOptions::default();
    let msg = |e: MeshError| e.to_string();

    let mut tris = t.mesh.triangles.clone();
    tris.push([0, 1, 468]);
    let e = render(&t.mesh.vertices, &tris, &cam, &opts).unwrap_err();
    assert!(msg(e).contains(&format!("triangle {}", tris.len() - 1)));

    let e = render(
        &t.mesh.vertices,
        &t.mesh.triangles,
        &cam.with_size(0, 10),
        &opts,
    )
    .unwrap_err();
    assert!(msg(e).contains("camera.width"));
    // A size that would not fit in memory is refused before anything is allocated.
    let e = render(
        &t.mesh.vertices,
        &t.mesh.triangles,
        &cam.with_size(m2f_mesh::MAX_IMAGE_SIDE + 1, u32::MAX),
        &opts,
    )
    .unwrap_err();
    assert!(msg(e).contains("camera.width/height"));

    let bad_fov = Camera { fov_y: 0.0, ..cam };
    let e = render(&t.mesh.vertices, &t.mesh.triangles, &bad_fov, &opts).unwrap_err();
    assert!(msg(e).contains("camera.fov_y"));

    let bad_target = Camera {
        target: cam.eye,
        ..cam
    };
    let e = render(&t.mesh.vertices, &t.mesh.triangles, &bad_target, &opts).unwrap_err();
    assert!(msg(e).contains("camera.target"));

    let fills = RenderOptions {
        hole_fills: vec![HoleFill {
            contour: vec![1, 2, 999],
            color: [0; 3],
        }],
        ..RenderOptions::default()
    };
    let e = render(&t.mesh.vertices, &t.mesh.triangles, &cam, &fills).unwrap_err();
    assert!(msg(e).contains("hole_fills[0].contour"));

    let dark = RenderOptions {
        light_dir: [0.0; 3],
        ..RenderOptions::default()
    };
    let e = render(&t.mesh.vertices, &t.mesh.triangles, &cam, &dark).unwrap_err();
    assert!(msg(e).contains("light_dir"));
}

#[test]
fn framing_without_vertices_still_gives_a_camera() {
    let cam = Camera::framing(&[]);
    assert!(project(&cam, [0.0, 0.0, 0.0]).is_some());
    let img = render(&[], &[], &cam, &RenderOptions::default()).unwrap();
    assert_eq!(img.dimensions(), (256, 256));
}

#[test]
fn vertex_albedo_colours_its_vertices_and_must_match_the_mesh() {
    let t = FaceTemplate::mediapipe();
    let cam = Camera::framing(&t.mesh.vertices);
    let grey = [0.5f32; 3];
    let mut albedo = vec![grey; t.mesh.vertices.len()];
    for &v in &t.regions.lips {
        albedo[v as usize] = [0.9, 0.05, 0.05];
    }
    let opts = RenderOptions {
        light_dir: [0.0, 0.0, 1.0],
        vertex_albedo: albedo.clone(),
        ..RenderOptions::default()
    };
    let img = render(&t.mesh.vertices, &t.mesh.triangles, &cam, &opts).unwrap();
    // Where the upper lip's midpoint projects, red dominates; on the forehead, grey stays grey.
    let at = |v: usize| {
        let p = project(&cam, t.mesh.vertices[v]).unwrap();
        img.get_pixel(p[0] as u32, p[1] as u32).0
    };
    let lip = at(0);
    assert!(lip[0] as i32 - lip[1] as i32 > 60, "{lip:?}");
    let forehead = at(10);
    assert!(
        (forehead[0] as i32 - forehead[1] as i32).abs() < 4,
        "{forehead:?}"
    );

    albedo.pop();
    let wrong = RenderOptions {
        vertex_albedo: albedo,
        ..RenderOptions::default()
    };
    let e = render(&t.mesh.vertices, &t.mesh.triangles, &cam, &wrong).unwrap_err();
    assert!(e.to_string().contains("vertex_albedo"), "{e}");
}
