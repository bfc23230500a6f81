"""What an HTML page loads from elsewhere: the external URLs of its scripts, stylesheets, images, frames and CSS
(`@import`, `url(...)`), read with the standard HTML parser. Plain links (`<a href>`) are not loads."""

from __future__ import annotations

import re
from html.parser import HTMLParser

EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
CSS_LOADS = re.compile(r"""@import\s+(?:url\()?\s*["']?((?:https?:)?//[^"')\s;]+)"""
                       r"""|url\(\s*["']?((?:https?:)?//[^"')\s]+)""", re.IGNORECASE)
LOADING_ATTRIBUTES = {"script": ("src",), "link": ("href",), "img": ("src", "srcset"), "iframe": ("src",),
                      "frame": ("src",), "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",),
                      "embed": ("src",), "object": ("data",), "input": ("src",), "track": ("src",)}


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = LOADING_ATTRIBUTES.get(tag, ())
        for name, value in attrs:
            if value and name in wanted and EXTERNAL.match(value):
                self.found.append(f"<{tag} {name}={value}>")
            if value and name == "style":
                self._css(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._css(data)

    def _css(self, text: str) -> None:
        self.found.extend(a or b for a, b in CSS_LOADS.findall(text))


def external_loads(html: str) -> list[str]:
    """Every URL on another origin that opening `html` would fetch."""
    parser = _Loads()
    parser.feed(html)
    parser.close()
    return parser.found
