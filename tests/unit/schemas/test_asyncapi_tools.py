"""The official AsyncAPI tooling (tools/asyncapi) checks schemas/asyncapi.yaml and renders it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from schemas.asyncapi import ASYNCAPI_PATH

REPO = Path(__file__).resolve().parents[3]
TOOLS = REPO / "tools" / "asyncapi"


def node(*args: str | Path, offline: bool = False) -> subprocess.CompletedProcess[str]:
    """Runs a tools/asyncapi script; missing Node.js or packages fail the test."""
    exe = shutil.which("node")
    assert exe, "Node.js is not installed (make asyncapi-tools needs node and npm)"
    assert (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir(), "run: make asyncapi-tools"
    cmd = [exe, *map(str, args)]
    if offline and os.geteuid() == 0 and shutil.which("unshare"):
        cmd = ["unshare", "--net", *cmd]  # a network namespace with no interface but lo
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=180, check=False)


def test_official_parser_accepts_the_committed_document() -> None:
    channels = len(yaml.safe_load(ASYNCAPI_PATH.read_text(encoding="utf-8"))["channels"])
    proc = node(TOOLS / "validate.js", ASYNCAPI_PATH)
    assert proc.returncode == 0, proc.stderr
    assert f"valid AsyncAPI 3.1.0 ({channels} channels" in proc.stdout
    assert proc.stderr == ""  # not even an informational diagnostic


def test_official_parser_rejects_bad_bindings_and_dangling_references(tmp_path: Path) -> None:
    text = ASYNCAPI_PATH.read_text(encoding="utf-8")
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(
        text.replace("partitions: 6", "partitions: 0", 1).replace(
            "$ref: '#/channels/counts'", "$ref: '#/channels/nowhere'", 1
        ),
        encoding="utf-8",
    )
    proc = node(TOOLS / "validate.js", broken)
    assert proc.returncode == 1
    assert '"partitions" property must be >= 1 at channels.events.bindings.kafka' in proc.stderr
    assert "'#/channels/nowhere' does not exist" in proc.stderr
    assert "INVALID" in proc.stderr


def test_html_reference_renders_offline_with_every_topic(tmp_path: Path) -> None:
    proc = node(TOOLS / "docs.js", ASYNCAPI_PATH, tmp_path, offline=True)
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    doc = yaml.safe_load(ASYNCAPI_PATH.read_text(encoding="utf-8"))
    assert "<title>border-surge topics" in html
    for channel in doc["channels"].values():
        assert channel["address"] in html
    assert "isolation.level=read_committed" in html
    assert (tmp_path / "js" / "asyncapi-ui.min.js").is_file()  # the page's viewer, beside it
