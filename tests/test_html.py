"""HTML documents: MathML pages and the catalog index, loaded in a real headless Chromium."""

import os
import re
import shutil
import subprocess

import pytest

from symdiff.cli import main
from symdiff.generated import BACKEND_PACKAGES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def need_chromium():
    if CHROMIUM:
        return
    message = "chromium not found (Debian: apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must load the HTML pages in a browser; {message}")
    pytest.skip(message)


def load(page, screenshot) -> list[str]:
    """Load ``page`` in headless Chromium, save a screenshot, and return its console messages."""
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,1400"]
        + ["--enable-logging=stderr", "--v=0", f"--screenshot={screenshot}", page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert screenshot.exists(), run.stderr[-2000:]
    return [line for line in run.stderr.splitlines() if ":CONSOLE" in line]


def ink(png) -> float:
    import matplotlib.image

    return float((matplotlib.image.imread(png)[..., :3].mean(axis=2) < 0.5).mean())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    args = ["catalog", "--only", "000_linear_regression_batch", "002_batchnorm", "004_sigmoid_mlp", "--html", str(out)]
    assert main(args) == 0
    return out


def test_catalog_html_writes_pages_code_and_an_index(site):
    index = (site / "index.html").read_text()
    for name in ("000_linear_regression_batch", "002_batchnorm", "004_sigmoid_mlp"):
        assert f'href="{name}.html"' in index and (site / f"{name}.html").exists()
        for package in BACKEND_PACKAGES.values():
            assert f'href="code/{package}/{name}.py"' in index and (site / "code" / package / f"{name}.py").exists()
        document = "pdf" if shutil.which("pdflatex") else "tex"
        assert f'href="{name}.{document}"' in index and (site / f"{name}.{document}").exists()


def test_pages_hold_mathml_and_no_raw_tex(site):
    page = (site / "002_batchnorm.html").read_text()
    assert page.count("<math") > 50
    outside_math = re.sub(r"<math.*?</math>", "", page, flags=re.S)
    assert "\\" not in outside_math and "$" not in outside_math, "LaTeX left outside MathML"
    assert "<script" not in page and "<link" not in page and 'src="' not in page  # offline: no script, no CDN


@pytest.mark.parametrize("name", ["index", "002_batchnorm", "004_sigmoid_mlp"])
def test_pages_load_in_chromium_without_console_messages(site, name, tmp_path):
    need_chromium()
    console = load(site / f"{name}.html", tmp_path / "page.png")
    assert not console, "\n".join(console)
    assert ink(tmp_path / "page.png") > 0.005


def test_math_is_rendered_by_the_browser(site, tmp_path):
    """With all text made transparent but the MathML elements, the page still shows its formulas: they are
    drawn as math (raw TeX would be text, and vanish); with the math made transparent too, nothing is left."""
    need_chromium()
    page = (site / "002_batchnorm.html").read_text()
    only_math, nothing = tmp_path / "only_math.html", tmp_path / "nothing.html"
    only_math.write_text(page.replace("</style>", "body { color: transparent; } math { color: #000; }\n</style>"))
    nothing.write_text(page.replace("</style>", "body, math { color: transparent; }\n</style>"))
    load(only_math, tmp_path / "only_math.png")
    load(nothing, tmp_path / "nothing.png")
    math_ink, rest = ink(tmp_path / "only_math.png"), ink(tmp_path / "nothing.png")
    assert math_ink > 0.002 and rest < 0.0005, f"math ink {math_ink:.4f}, without it {rest:.4f}"


def test_derive_html_prints_a_page(capsys):
    assert main(["derive", "sum(x * x)", "--shape", "x=n,1", "--wrt", "x", "--html"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!DOCTYPE html>") and "<math" in page and page.rstrip().endswith("</html>")
