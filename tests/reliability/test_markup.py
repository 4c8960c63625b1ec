"""Markup and links (issue #11 point 8): names and values cannot make links, images or HTML in
summary.md, and every HTML anchor is unique."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from mechtests.reports.render_html import anchor, render_html
from mechtests.reports.render_markdown import code, md, render_markdown

DATA = Path(__file__).parent.parent / "plugin" / "data"


def hostile_results() -> dict:
    results = json.loads((DATA / "new_results.json").read_text())
    hyp = results["hypotheses"][0]
    hyp["key"] = "evil[![img](http://x/y.png)]"
    hyp["results"]["mdm"]["message"] = "AssertionError: see [here](javascript:alert(1)) <img src=x onerror=1> & `rm`"
    hyp["results"]["mdm"]["evidence"][0]["name"] = "[click](http://evil.example)"
    hyp["results"]["mdm"]["rerun"] = "pytest 'x.py::t[`a`]'"
    return results


def test_summary_escapes_link_and_image_syntax_from_names_and_values() -> None:
    summary = render_markdown(hostile_results())
    outside_code = re.sub(r"(`+) .*? \1", "", summary)
    assert not re.search(r"(?<!\\)\]\(", outside_code), "an unescaped ']('' would make a link"
    assert not re.search(r"(?<!\\)<(img|script)", outside_code)
    assert "\\[click\\](http://evil.example)" in summary and "\\<img src=x onerror=1\\>" in summary
    assert "&lt;" not in summary and "&#x27;" not in summary  # Markdown escapes, not HTML entities
    assert "``` pytest 'x.py::t[`a`]' ```" not in summary and "`` pytest 'x.py::t[`a`]' ``" in summary


def test_md_and_code_keep_text_on_one_line() -> None:
    assert md("a\nb|c") == "a b\\|c"
    assert code("a`b") == "`` a`b ``"


def test_anchors_differ_for_keys_with_a_long_common_prefix() -> None:
    base = "pathways.prefix_pathways_preserved_on_every_task_of_the_suite"
    keys = [f"{base}[ioi]", f"{base}[greater_than]", base, base + "-", base + "_"]
    assert len({anchor(k) for k in keys}) == len(keys)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", anchor(k, "mdm")) for k in keys)


def test_every_id_in_a_report_is_unique() -> None:
    results = hostile_results()
    twin = copy.deepcopy(results["hypotheses"][0])
    twin["key"] = results["hypotheses"][0]["key"] + "-"
    results["hypotheses"].append(twin)
    page = render_html(results)
    ids = re.findall(r"id='([^']+)'", page)
    assert len(ids) == len(set(ids)) and len(ids) >= 6
    for target in re.findall(r"href='#([^']+)'", page):
        assert target in ids
