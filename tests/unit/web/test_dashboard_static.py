"""The page's files ship inside the package and ask for nothing outside the worker."""

from __future__ import annotations

import re

from streams.web.dashboard.views import STATIC, static_file


def test_every_static_file_is_in_the_package() -> None:
    for name in STATIC:
        assert static_file(name), name


def test_the_page_loads_only_its_own_files() -> None:
    html = static_file("index.html").decode()
    refs = set(re.findall(r'(?:src|href)="([^"#]+)"', html))
    assert refs == {"/static/style.css", "/static/app.js", "data:,"}
    for name in STATIC:
        text = static_file(name).decode()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), name


def test_the_script_polls_only_the_dashboard_api() -> None:
    js = static_file("app.js").decode()
    assert set(re.findall(r'"(/dashboard/[a-z]+)', js)) == {
        "/dashboard/overview",
        "/dashboard/alerts",
    }
    assert "`/dashboard/series/${encodeURIComponent(row.subject)}`" in js


def test_make_run_prints_the_dashboard_url() -> None:
    from streams.cli.background_worker import dashboard_url
    from streams.settings import Settings

    assert dashboard_url(Settings(web_port=7070)) == "http://127.0.0.1:7070/"
    assert dashboard_url(Settings(web_host="0.0.0.0")) == "http://127.0.0.1:6066/"
