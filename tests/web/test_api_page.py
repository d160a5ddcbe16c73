"""The API reference page: RST markup rendered, paths breakable only after a '/'."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from vla_bench.server.pages.api_reference import path_markup, rst_inline


def test_rst_literals_and_roles_become_code_and_the_rest_is_escaped() -> None:
    assert rst_inline("with ``?benchmark=``: a <b>") == "with <code>?benchmark=</code>: a &lt;b&gt;"
    assert rst_inline(":class:`Protocol` and `x`") == "<code>Protocol</code> and <code>x</code>"
    assert rst_inline("no markup") == "no markup"


def test_a_path_breaks_only_after_a_slash() -> None:
    assert path_markup("/api/v1/submissions/{id}/bundle") == "/api/<wbr>v1/<wbr>submissions/<wbr>{id}/<wbr>bundle"
    assert path_markup("/a<b") == "/a&lt;b"


def test_the_api_page_shows_no_rst_and_no_breakable_path_segments(pages: TestClient) -> None:
    html = pages.get("/api").text
    assert "``" not in html and ":class:" not in html
    assert "<code>?benchmark=</code>" in html
    paths = re.findall(r'<code class="path">(.*?)</code>', html)
    assert paths and all(p.replace("/<wbr>", "/").startswith("/api/") for p in paths)
    for p in paths:  # between two break opportunities, a whole segment
        assert all("<" not in seg for seg in p.split("/<wbr>")), p
