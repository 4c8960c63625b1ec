"""What a reader of report.html would notice, measured from the page's layout in a real browser.

`check(path, browser)` opens the page at 1280 px and returns `Findings`: each chart's rendered
size, where each link of the matrix (and of the baseline block) lands, every request the page
made, how wide the page and its matrix are, and any text rendered smaller than 12 px. A
screenshot from the top down to the first chart is saved next to the page. `problems()` says
in words what is wrong; an empty list is a page that passes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chromium import WIDTH, open_page

MIN_TEXT_PX = 12.0
MAX_SHOT_HEIGHT = 8000

LAYOUT = r"""
(() => {
  const out = {charts: [], links: [], small: [], pageWidth: document.documentElement.scrollWidth,
               viewWidth: window.innerWidth, matrixRight: null, matrixOverflow: null, firstChartBottom: null};
  document.querySelectorAll('svg').forEach((svg, i) => {
    const r = svg.getBoundingClientRect();
    out.charts.push({label: svg.getAttribute('aria-label') || `svg #${i}`, kind: svg.dataset.chart || null, width: r.width, height: r.height});
    if (out.firstChartBottom === null && svg.classList.contains('chart')) out.firstChartBottom = r.bottom + window.scrollY;
  });
  const baseline = document.getElementById('baseline'), matrix = document.querySelector('table.matrix');
  out.baselineFirst = baseline ? !!(baseline.compareDocumentPosition(matrix) & Node.DOCUMENT_POSITION_FOLLOWING) : null;
  if (matrix) {
    out.matrixRight = matrix.getBoundingClientRect().right;
    out.matrixOverflow = matrix.scrollWidth - matrix.clientWidth;
  }
  for (const a of document.querySelectorAll('table.matrix a[href^="#"], #baseline a[href^="#"]')) {
    const id = decodeURIComponent(a.getAttribute('href').slice(1));
    const target = document.getElementById(id);
    let top = null, landed = false;
    if (target) {
      window.scrollTo(0, 0);
      a.click();
      top = target.getBoundingClientRect().top;
      const bottom = document.documentElement.scrollHeight - window.innerHeight;
      landed = location.hash === '#' + a.getAttribute('href').slice(1) && (Math.abs(top) <= 2 || Math.abs(window.scrollY - bottom) <= 2);
    }
    out.links.push({href: id, text: a.textContent, exists: !!target, top, landed});
  }
  window.scrollTo(0, 0);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el) || el.closest('title')) continue;
    seen.add(el);
    if (el.getClientRects().length === 0) continue;  // not rendered (closed <details>, display: none)
    let px = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement && el.getScreenCTM()) {
      const m = el.getScreenCTM();
      px *= Math.hypot(m.a, m.b);
    }
    if (px < __MIN__) out.small.push({tag: el.tagName, text: walker.currentNode.textContent.trim().slice(0, 40), px});
  }
  return out;
})()
""".replace("__MIN__", str(MIN_TEXT_PX - 0.01))


@dataclass
class Findings:
    layout: dict[str, Any]
    requests: list[str]
    page_url: str
    screenshot: Path

    def problems(self) -> list[str]:
        out = []
        charts = self.layout["charts"]
        out += [f"chart {c['label']!r} renders at {c['width']:.0f} x {c['height']:.0f} px" for c in charts if c["width"] < 1 or c["height"] < 1]
        out += [f"matrix link #{link['href']} ({link['text']}) has no target" for link in self.layout["links"] if not link["exists"]]
        out += [f"matrix link #{link['href']} ({link['text']}) does not land on its section (top at {link['top']} px)"
                for link in self.layout["links"] if link["exists"] and not link["landed"]]
        out += [f"request leaves the file: {url}" for url in self.requests if url != self.page_url]
        if self.layout["pageWidth"] > self.layout["viewWidth"]:
            out.append(f"the page is {self.layout['pageWidth']} px wide at {self.layout['viewWidth']} px: it scrolls horizontally")
        if self.layout["matrixRight"] is not None and (self.layout["matrixRight"] > self.layout["viewWidth"] or self.layout["matrixOverflow"] > 0):
            out.append(f"the matrix needs horizontal scrolling (right edge at {self.layout['matrixRight']:.0f} px)")
        out += [f"text {s['text']!r} ({s['tag']}) renders at {s['px']:.1f} px, under {MIN_TEXT_PX:g}" for s in self.layout["small"]]
        return out


def check(path: Path, browser: str) -> Findings:
    """Open `path` headless at 1280 px, measure it, and save `<stem>.png` beside it."""
    path = Path(path).resolve()
    with open_page(path, browser) as page:
        layout = page.evaluate(LAYOUT)
        height = min(MAX_SHOT_HEIGHT, max(900, int((layout["firstChartBottom"] or 0) + 16)))
        shot = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1})
        screenshot = path.with_suffix(".png")
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        return Findings(layout, list(page.requests), path.as_uri(), screenshot)
