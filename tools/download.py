"""Shared by the fetch scripts: a download whose SHA-256 is checked before anything uses it."""
import hashlib
import sys
import urllib.request


def fetch_checked(url, sha256, timeout=120):
    """The bytes at `url`; exits naming the URL when their SHA-256 is not `sha256`."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        data = r.read()
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        sys.exit(f"{url}: SHA-256 {got}, expected {sha256}")
    return data
