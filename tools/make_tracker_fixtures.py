"""Reference outputs of MediaPipe's face detector and face mesh model from the TFLite runtime,
for m2f-tracker's parity test (crates/m2f-tracker/tests/tflite_parity.rs).

Usage (a venv outside the repository; tflite-runtime 2.14 needs numpy < 2):
    python3 -m venv /tmp/tflenv
    /tmp/tflenv/bin/pip install "numpy<2" tflite-runtime==2.14.0 pillow scikit-image safetensors \
        mediapipe==0.10.14
    /tmp/tflenv/bin/python tools/make_tracker_fixtures.py MODELS_DIR

MODELS_DIR holds face_detection_short_range.tflite and face_landmark.tflite
(`python3 tools/fetch_mediapipe.py MODELS_DIR`). Writes, under crates/m2f-tracker/tests/fixtures/:
  astronaut.jpg              scikit-image's astronaut photograph (NASA, public domain)
  tflite_parity.safetensors  for each model, the outputs on a noise input (the same generator
                             as the test's) and on a photo input (stored as u8 RGB here)
  mediapipe_astronaut.json   MediaPipe's own pipeline on astronaut.jpg (the FaceDetection and
                             FaceMesh solutions of mediapipe 0.10.14, static image mode): the
                             detection and the 468 points, in pixels
"""
import os
import sys

import json

import numpy as np
import PIL.Image
import skimage.data
import tflite_runtime.interpreter as tfl
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(__file__), "..", "crates", "m2f-tracker", "tests", "fixtures")


def noise(n, seed):
    """u8 values from a 64-bit LCG (Knuth's MMIX constants); the Rust test repeats it."""
    out = np.empty(n, dtype=np.uint8)
    s = seed
    for i in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out[i] = (s >> 33) & 0xFF
    return out


def run(path, x, resolver):
    it = tfl.Interpreter(model_path=path, experimental_op_resolver_type=resolver, num_threads=1)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def main():
    models = sys.argv[1]
    photo = skimage.data.astronaut()
    os.makedirs(ROOT, exist_ok=True)
    PIL.Image.fromarray(photo).save(os.path.join(ROOT, "astronaut.jpg"), quality=92)
    photo = np.asarray(PIL.Image.open(os.path.join(ROOT, "astronaut.jpg")).convert("RGB"))
    inputs = {
        # The whole photograph, as the detector sees it.
        "detector": (128, lambda u8: u8.astype(np.float32) / 127.5 - 1.0,
                     PIL.Image.fromarray(photo).resize((128, 128), PIL.Image.BILINEAR)),
        # A square around the face, as the landmark model sees it.
        "landmark": (192, lambda u8: u8.astype(np.float32) / 255.0,
                     PIL.Image.fromarray(photo).crop((132, 28, 312, 208)).resize((192, 192), PIL.Image.BILINEAR)),
    }
    files = {"detector": "face_detection_short_range.tflite", "landmark": "face_landmark.tflite"}
    tensors = {}
    for name, (size, normalise, photo_input) in inputs.items():
        path = os.path.join(models, files[name])
        photo_u8 = np.asarray(photo_input, dtype=np.uint8)
        tensors[f"{name}.photo.input"] = photo_u8
        for kind, u8 in [("noise", noise(size * size * 3, 7).reshape(size, size, 3)), ("photo", photo_u8)]:
            x = normalise(u8)[None]
            ref = run(path, x, tfl.OpResolverType.BUILTIN_REF)
            xnn = run(path, x, tfl.OpResolverType.AUTO)
            for i, (r, q) in enumerate(zip(ref, xnn)):
                tensors[f"{name}.{kind}.output{i}"] = r.astype(np.float32)
                print(f"{name} {kind} output {i} {r.shape}: |reference kernels - XNNPACK| max "
                      f"{np.abs(r - q).max():.2e}, |value| max {np.abs(r).max():.2f}")
    save_file(tensors, os.path.join(ROOT, "tflite_parity.safetensors"))
    mediapipe_pipeline(photo)


def mediapipe_pipeline(photo):
    import mediapipe as mp

    h, w = photo.shape[:2]
    with mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5) as fd:
        (d,) = fd.process(photo).detections
    box = d.location_data.relative_bounding_box
    detection = {
        "score": d.score[0],
        "min": [box.xmin * w, box.ymin * h],
        "max": [(box.xmin + box.width) * w, (box.ymin + box.height) * h],
        "keypoints": [[k.x * w, k.y * h] for k in d.location_data.relative_keypoints],
    }
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as fm:
        (face,) = fm.process(photo).multi_face_landmarks
    # MediaPipe's z is in the x scale (normalised by the image width).
    points = [[p.x * w, p.y * h, p.z * w] for p in face.landmark]
    out = {"mediapipe": mp.__version__, "detection": detection, "points": points}
    with open(os.path.join(ROOT, "mediapipe_astronaut.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"mediapipe {mp.__version__}: detection score {detection['score']:.4f}, {len(points)} points")


if __name__ == "__main__":
    main()
