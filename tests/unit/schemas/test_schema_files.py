"""The committed JSON Schema files in schemas/json must match the pydantic models."""

import json
from pathlib import Path

import pytest

from schemas import export


@pytest.mark.parametrize("name", sorted(export.MODELS))
def test_committed_schema_file_matches_its_model(name: str) -> None:
    path = export.SCHEMA_DIR / name
    assert path.is_file(), f"{path} is missing: run python -m schemas.export"
    assert path.read_text(encoding="utf-8") == export.render(export.MODELS[name]), (
        f"{path} has drifted from the model: run python -m schemas.export"
    )


def test_schema_files_are_sorted_pretty_json_with_trailing_newline() -> None:
    for name in export.MODELS:
        text = (export.SCHEMA_DIR / name).read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_check_exits_1_and_names_missing_or_edited_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The AsyncAPI document goes to tmp_path too: the test must not touch the committed one.
    args = ["--dir", str(tmp_path), "--asyncapi", str(tmp_path / "asyncapi.yaml")]
    assert export.main(args) == 0
    assert export.main(["--check", *args]) == 0

    (tmp_path / "alert.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "count.schema.json").unlink()
    capsys.readouterr()
    assert export.main(["--check", *args]) == 1
    err = capsys.readouterr().err
    assert "alert.schema.json" in err
    assert "count.schema.json" in err
    assert "event.schema.json" not in err


def test_export_rewrites_only_drifted_files(tmp_path: Path) -> None:
    export.write(tmp_path)
    (tmp_path / "event.schema.json").write_text("{}\n", encoding="utf-8")
    assert export.write(tmp_path) == ["event.schema.json"]
    assert export.drifted(tmp_path) == []
