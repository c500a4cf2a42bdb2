"""`snakemake --report report.zip` after a full demo run: it builds, holds every result a reader
needs, works offline, and headless Chromium renders it with every song listed.

The browser part is skipped, with the reason, only where Chromium is not installed (install.sh
installs Debian's `chromium` when it runs as root).
"""

import html
import json
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import snakemake
from quick import DEMO_TARGETS, quick_demo

pytestmark = pytest.mark.slow

DEMO = [f"demo-0{i}" for i in (1, 2, 3)]
MODES = ("100-window", "no-limit")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The unpacked report.zip of the quick demo run: (folder, path of its HTML page)."""
    work = quick_demo(tmp_path_factory)
    target = tmp_path_factory.mktemp("report")
    snakemake(work, "--report", str(target / "report.zip"), *DEMO_TARGETS)
    with zipfile.ZipFile(target / "report.zip") as archive:
        archive.extractall(target / "unpacked")
    pages = sorted((target / "unpacked").rglob("report.html"))
    assert len(pages) == 1, sorted(p.name for p in (target / "unpacked").rglob("*"))
    return target / "unpacked", pages[0]


def table_of(page, name):
    """A table the report's page carries as `var <name> = {...};` (results, categories)."""
    text = page.read_text(encoding="utf-8")
    match = re.search(rf"var {name} = (\{{.*?\}});\s*</script>", text, re.S)
    assert match, f"no {name} table in the report page"
    return json.loads(match.group(1))


def test_the_report_holds_every_result_a_reader_needs(report):
    _, page = report
    results = table_of(page, "results")
    names = {Path(path).as_posix() for path in results}

    def has(suffix):
        return any(name.endswith(suffix) for name in names)

    for item in ("results/report/metrics.html", "results/report/metrics.csv", "results/report/summary.png",
                 "results/unet/train/curve.png", "results/carvana/training.png"):
        assert has(item), f"{item} is not in the report: {sorted(names)}"
    for mode in MODES:
        for song in DEMO:
            for item in ("spectrograms.png", "optimization_loss.png"):
                assert has(f"results/{mode}/{song}/{item}"), (mode, song, item)
            assert has(f"results/report/{mode}/{song}/listen.html"), (mode, song)
    categories = table_of(page, "categories")
    assert set(categories) == {"Songs", "Summary", "Training"}
    assert set(categories["Songs"]) == {f"{song} ({mode})" for song in DEMO for mode in MODES}
    for files in categories["Songs"].values():  # each song: its audio and its two pictures
        assert sorted(Path(f).name for f in files) == ["listen.html", "optimization_loss.png", "spectrograms.png"]


def test_the_report_works_offline(report):
    folder, page = report
    text = page.read_text(encoding="utf-8")
    remote = re.findall(r"""<(?:script|link|img|iframe|audio|source)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""",
                        text, re.I)
    assert not remote, remote[:3]
    # each song's listening page carries its audio inline, one player per clip
    for listen in folder.rglob("listen.html"):
        players = re.findall(r'<audio controls preload="none" src="data:audio/ogg;base64,', listen.read_text())
        assert len(players) >= 3, listen


class VisibleText(HTMLParser):
    """The text a reader sees: everything outside <script> and <style>."""

    def __init__(self):
        super().__init__()
        self.skip = 0
        self.parts = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def headless(browser, profile, *args):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={profile}", "--virtual-time-budget=15000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def test_chromium_renders_the_report_with_every_song(report, tmp_path):
    browser = chromium()
    if browser is None:
        reason = "headless Chromium is not installed (Debian: apt-get install chromium; install.sh does it as root)"
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    folder, page = report
    # what a reader does first: open the category Songs, which lists one entry per song
    opened = page.with_name("opened.html")
    head, _, tail = page.read_text(encoding="utf-8").rpartition("</body>")  # the page's own, the last
    click = "<script>setTimeout(function () { app.showCategory('Songs'); }, 500);</script>"
    opened.write_text(head + click + "</body>" + tail, encoding="utf-8")
    dom = headless(browser, tmp_path / "profile", "--dump-dom", opened.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = VisibleText()
    parser.feed(dom.stdout)
    visible = html.unescape(" ".join(parser.parts))
    for category in ("Songs", "Summary", "Training"):
        assert category in visible, f"category {category} not shown:\n{visible[:3000]}"
    for mode in MODES:
        for song in DEMO:
            assert f"{song} ({mode})" in visible, f"{song} ({mode}) not shown:\n{visible[:3000]}"
    shot = headless(browser, tmp_path / "profile", "--window-size=1400,1000",
                    f"--screenshot={tmp_path / 'report.png'}", opened.as_uri())
    assert shot.returncode == 0 and (tmp_path / "report.png").stat().st_size > 10_000
