"""The production build of the browser app stays small enough to load quickly."""

import gzip
from pathlib import Path

DIST = Path(__file__).resolve().parent.parent.parent / "orchestra" / "webapp"
LIMIT_BYTES = 1_000_000


def test_production_build_is_under_one_megabyte_of_gzipped_javascript():
    scripts = sorted((DIST / "assets").glob("*.js"))
    assert scripts, f"no JavaScript under {DIST / 'assets'}: build the app first (make frontend)"
    gzipped = sum(len(gzip.compress(path.read_bytes(), compresslevel=9)) for path in scripts)
    assert gzipped < LIMIT_BYTES, f"{gzipped} bytes of gzipped JavaScript in {[p.name for p in scripts]}"
