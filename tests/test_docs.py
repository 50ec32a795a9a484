"""The docs a newcomer reads: README.md and docs/*.md stay short, linked and in step with the code."""

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 260

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def doc_pages():
    return [README] + sorted((ROOT / "docs").glob("*.md"))


def prose_lines(text):
    """The lines of a markdown text outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.lower()
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in " -_" or cat[0] in "LN":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors(path):
    """Every anchor of a markdown file, with GitHub's -1, -2 suffixes for repeated headings."""
    seen = {}
    out = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def relative_links(path):
    """(line number, target) of every link that is not a web address or mail link."""
    out = []
    text = path.read_text(encoding="utf-8")
    fenced = False
    for no, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # a link-like text inside inline code is not a link
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            out.append((no, target))
    return out


def test_slug_follows_github():
    assert slug("Train (stage 3)") == "train-stage-3"
    assert slug("egs/toy/nsf: hn-sinc-NSF vocoder") == "egstoynsf-hn-sinc-nsf-vocoder"
    assert slug("Scoring a folder of wavs: `score_wavs`") == "scoring-a-folder-of-wavs-score_wavs"
    assert slug("Kaldi/ESPnet features: `python -m pylib.bin.convert_feats`") == (
        "kaldiespnet-features-python--m-pylibbinconvert_feats"
    )


def broken_links(pages, root):
    broken = []
    for page in pages:
        for no, target in relative_links(page):
            file_part, _, anchor = target.partition("#")
            dest = page if not file_part else (page.parent / file_part).resolve()
            where = f"{page.relative_to(root)}:{no}: {target}"
            if not dest.exists():
                broken.append(f"{where} (no file {file_part})")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{where} (no heading with anchor #{anchor} in {dest.name})")
    return broken


def test_every_relative_link_resolves():
    broken = broken_links(doc_pages(), ROOT)
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_broken_links_are_found(tmp_path):
    (tmp_path / "b.md").write_text("# B\n\n## Part two\n", encoding="utf-8")
    (tmp_path / "a.md").write_text(
        "# A\n[ok](b.md#part-two) [ok](#a) [web](https://example.org/x#y) `[code](nope.md)`\n"
        "[no file](c.md) [no anchor](b.md#part-three) [no local](#b)\n"
        "```\n[in a fence](d.md)\n```\n",
        encoding="utf-8",
    )
    found = broken_links([tmp_path / "a.md"], tmp_path)
    assert [f.split(": ", 1)[1].split(" (")[0] for f in found] == ["c.md", "b.md#part-three", "#b"]


def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, (
        f"README.md has {n} lines (at most {README_MAX_LINES}): move the detail to a page under docs/"
    )


def entry_points():
    return sorted(p.stem for p in (ROOT / "pylib" / "bin").glob("*.py") if not p.stem.startswith("_"))


def test_every_entry_point_is_in_the_readme_table():
    assert len(entry_points()) >= 10, "pylib/bin has lost its entry points?"
    rows = [line for line in prose_lines(README.read_text(encoding="utf-8")) if line.startswith("|")]
    named = {m.group(1) for row in rows for m in [re.match(r"^\|\s*`([a-z_0-9]+)`\s*\|", row)] if m}
    missing = [name for name in entry_points() if name not in named]
    assert not missing, (
        f"README.md's entry-point table lacks {missing}: add a row `| `name` | stage | what | docs |`"
    )


def test_design_page_exists_and_names_the_stage_scripts():
    text = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    for name in ("egs/TEMPLATE/voc1/voc.sh", "egs/TEMPLATE/cm1/cm.sh", "pylib/contracts.py"):
        assert name in text, f"docs/DESIGN.md does not mention {name}"


def test_every_recipe_cites_design_page():
    recipes = sorted(ROOT.glob("egs/*/*/run.sh"))
    assert recipes, "no recipe found under egs/*/*/run.sh"
    recipes += sorted(ROOT.glob("egs/TEMPLATE/*/voc.sh")) + sorted(ROOT.glob("egs/TEMPLATE/*/cm.sh"))
    texts = {p: p.read_text(encoding="utf-8") for p in recipes}
    if not any("docs/DESIGN.md" in t for t in texts.values()):
        pytest.skip("no run.sh cites docs/DESIGN.md yet (the recipes branch adds the citations)")
    missing = [str(p.relative_to(ROOT)) for p, t in texts.items() if "docs/DESIGN.md" not in t]
    assert not missing, f"these recipes do not cite docs/DESIGN.md: {missing}"
