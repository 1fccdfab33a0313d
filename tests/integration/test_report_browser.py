"""The report in a real headless browser (Debian chromium) with no network, and the PDF rendered by pdftoppm.

Needs ``apt-get install -y chromium poppler-utils``; skips saying so when either is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.reporting import ReportResult, build_report
from tests.unit.test_report_handday import DAY, DAY2, write_hand_lake

CHROMIUM = "/usr/bin/chromium"
CONSOLE_MARKERS = ("Uncaught", ":CONSOLE(", "ERROR:CONSOLE", "Failed to load resource", "net::ERR_")
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="chromium missing: apt-get install -y chromium poppler-utils")
needs_pdftoppm = pytest.mark.skipif(shutil.which("pdftoppm") is None,
                                    reason="pdftoppm missing: apt-get install -y chromium poppler-utils")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    home = tmp_path_factory.mktemp("home")
    lake = write_hand_lake(home / "lake", (DAY, DAY2))
    return build_report(DAY, DAY2, lake, Settings(home=home), out_dir=home / "reports")


def png_pixels(path: Path) -> np.ndarray:
    """Decode an 8-bit non-interlaced PNG (RGB/RGBA/gray) with zlib only -> (h, w, channels) uint8."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = depth = ctype = 0
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big")
            depth, ctype = body[8], body[9]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8, f"unsupported PNG bit depth {depth}"
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * ch)
    out = np.zeros((height, width * ch), dtype=np.int32)
    prev = np.zeros(width * ch, dtype=np.int32)
    for y in range(height):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        cur = np.zeros_like(line)
        for x in range(width * ch):
            a = cur[x - ch] if x >= ch else 0
            b, c = prev[x], (prev[x - ch] if x >= ch else 0)
            if f == 0:
                p = 0
            elif f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + p) & 0xFF
        out[y], prev = cur, cur
    return out.reshape(height, width, ch).astype(np.uint8)


def not_blank(path: Path) -> None:
    try:
        from matplotlib import image

        px = np.asarray(image.imread(str(path)))
    except Exception:  # fall back to the zlib decoder
        px = png_pixels(path)
    assert px.size > 0
    flat = px.reshape(-1, px.shape[-1] if px.ndim == 3 else 1)
    assert len(np.unique(flat[:: max(1, flat.shape[0] // 200_000)], axis=0)) > 10, f"{path} looks blank"


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--enable-logging=stderr", "--v=0", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@needs_chromium
def test_html_in_headless_chromium(report: ReportResult, tmp_path: Path) -> None:
    url = report.html.resolve().as_uri()
    dom = chromium(["--dump-dom", url], tmp_path / "p1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for marker in CONSOLE_MARKERS:
        assert marker not in dom.stderr, f"browser console error: {marker}\n{dom.stderr[-2000:]}"
    for sid in ("summary", "venues", "routing", "router", "governance", "outliers", "reproducibility"):
        assert f'id="{sid}"' in dom.stdout
    assert dom.stdout.count("<table") >= 12 and dom.stdout.count("<img") == 3
    shot = tmp_path / "report.png"
    res = chromium([f"--screenshot={shot}", "--window-size=1280,2000", url], tmp_path / "p2")
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    for marker in CONSOLE_MARKERS:
        assert marker not in res.stderr, f"browser console error: {marker}"
    not_blank(shot)


@needs_pdftoppm
def test_pdf_pages_render(report: ReportResult, tmp_path: Path) -> None:
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(report.pdf), str(tmp_path / "page")], check=True,
                   timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    for page in pages[:3]:
        not_blank(page)
