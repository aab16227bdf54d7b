"""Writes the topic contracts: JSON Schema files to schemas/json and schemas/asyncapi.yaml;
``--check`` finds drift."""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from schemas import asyncapi
from schemas.alert import Alert
from schemas.counts import CountRecord
from schemas.event import BorderEvent

SCHEMA_DIR = Path(__file__).parent / "json"
MODELS: dict[str, type[BaseModel]] = {
    "event.schema.json": BorderEvent,
    "alert.schema.json": Alert,
    "count.schema.json": CountRecord,
}
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render(model: type[BaseModel]) -> str:
    """The committed text for ``model``: pretty, sorted keys, trailing newline, stable diffs."""
    schema = {"$schema": _DIALECT, **model.model_json_schema()}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def drifted(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of the schema files in ``directory`` that are missing or differ from the models."""
    names = []
    for name, model in MODELS.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != render(model):
            names.append(name)
    return names


def write(directory: Path = SCHEMA_DIR) -> list[str]:
    """Rewrite the drifted schema files in ``directory``; return their names."""
    names = drifted(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text(render(MODELS[name]), encoding="utf-8")
    return names


def asyncapi_drifted(path: Path = asyncapi.ASYNCAPI_PATH) -> bool:
    """Whether the AsyncAPI document at ``path`` is missing or differs from the models."""
    return not path.is_file() or path.read_text(encoding="utf-8") != asyncapi.render()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.export", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if any file has drifted")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="default: %(default)s")
    parser.add_argument(
        "--asyncapi", type=Path, default=asyncapi.ASYNCAPI_PATH, help="default: %(default)s"
    )
    args = parser.parse_args(argv)
    if args.check:
        paths = [args.dir / name for name in drifted(args.dir)]
        if asyncapi_drifted(args.asyncapi):
            paths.append(args.asyncapi)
        for path in paths:
            print(f"drifted: {path} (run: python -m schemas.export)", file=sys.stderr)
        return 1 if paths else 0
    for name in write(args.dir):
        print(f"wrote {args.dir / name}")
    if asyncapi_drifted(args.asyncapi):
        args.asyncapi.write_text(asyncapi.render(), encoding="utf-8")
        print(f"wrote {args.asyncapi}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
