"""schemas/asyncapi.yaml: committed, generated from the models and topic specs, true to the code."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import jsonschema
import pytest
import yaml

from schemas import asyncapi, export
from schemas.bucket_report import BUCKET_REPORT
from schemas.dead_letter import DeadLetterReason
from streams.count.model import ClosedBucket
from streams.count.records import count_record, encode_report
from streams.ingest import agent as ingest
from streams.kafka.topics import topic_specs

VALID_EVENT = (
    b'{"event_id":"e-1","crossing_id":"syrym","occurred_at":"2022-09-21T19:32:05Z",'
    b'"from_country":"RU","to_country":"KZ","travellers":3}'
)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return yaml.safe_load(asyncapi.ASYNCAPI_PATH.read_text(encoding="utf-8"))


def deref(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node``, or what its local ``$ref`` points at."""
    while "$ref" in node:
        target = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    """A draft-07 validator (AsyncAPI's schema dialect) that resolves the document's refs."""
    return jsonschema.Draft7Validator({**schema, "components": doc["components"]})


def message(doc: dict[str, Any], channel: str) -> dict[str, Any]:
    (ref,) = doc["channels"][channel]["messages"].values()
    return deref(doc, ref)


def test_committed_document_matches_the_models_and_topics() -> None:
    assert asyncapi.ASYNCAPI_PATH.read_text(encoding="utf-8") == asyncapi.render(), (
        "schemas/asyncapi.yaml has drifted: run python -m schemas.export"
    )


def test_every_topic_the_service_creates_is_a_channel_with_its_kafka_settings(doc) -> None:
    channels = {c["address"]: c for c in doc["channels"].values()}
    specs = topic_specs(asyncapi.default_settings())
    assert sorted(channels) == sorted(spec.name for spec in specs)
    for spec in specs:
        kafka = channels[spec.name]["bindings"]["kafka"]
        assert kafka["partitions"] == spec.partitions
        config = kafka["topicConfiguration"]
        assert config["cleanup.policy"] == [spec.configs.get("cleanup.policy", "delete")]
        for name, value in spec.configs.items():
            if name != "cleanup.policy":
                assert str(config[name]) == value, (spec.name, name)
        assert channels[spec.name]["x-delivery"]["guarantee"] in ("at-least-once", "exactly-once")


def test_contract_topics_state_their_key_and_what_readers_must_do(doc) -> None:
    by_address = {c["address"]: c for c in doc["channels"].values()}
    alerts, counts = by_address["border.alerts"], by_address["border.counts"]
    assert alerts["x-delivery"] == {
        "guarantee": "exactly-once",
        "readers-must": "read with isolation.level=read_committed",
    }
    assert "highest revision" in counts["x-delivery"]["readers-must"]
    for address in ("border.events", "border.counts", "border.alerts", "border.events.dlq"):
        assert by_address[address]["tags"] == [{"name": "contract"}]
        assert "**Key**" in by_address[address]["description"]
    for address in ("border.events.by-crossing", "border.buckets.by-border"):
        assert by_address[address]["tags"] == [{"name": "internal"}]


def test_payloads_are_the_committed_json_schemas(doc) -> None:
    for name, model in export.MODELS.items():
        committed = json.loads((export.SCHEMA_DIR / name).read_text(encoding="utf-8"))
        committed.pop("$schema")
        assert doc["components"]["schemas"][model.__name__] == committed, name


def test_examples_are_valid_messages(doc) -> None:
    examples = 0
    for msg in doc["components"]["messages"].values():
        for example in msg.get("examples", []):
            examples += 1
            validator(doc, msg["payload"]).validate(example["payload"])
            if "headers" in example:
                validator(doc, msg["headers"]).validate(example["headers"])
    assert examples >= 4


def test_the_records_the_service_writes_match_their_messages(doc) -> None:
    bucket = ClosedBucket(("syrym", "RU", "KZ"), 1_663_788_600_000, 1_663_788_900_000, 92, 31, 2)
    key, value = encode_report(bucket)
    report = message(doc, "bucketsByBorder")
    validator(doc, report["payload"]).validate(json.loads(value))
    validator(doc, report["bindings"]["kafka"]["key"]).validate(key.decode())
    assert BUCKET_REPORT.validate_json(value) == ("syrym", "RU", "KZ", 1_663_788_600_000, 92, 31, 2)
    counts = message(doc, "counts")
    validator(doc, counts["payload"]).validate(json.loads(count_record(bucket)))


def ingest_record(value: bytes) -> Any:
    settings = asyncapi.default_settings()
    service = SimpleNamespace(settings=settings, metrics=MagicMock(), keyed_topic_name="keyed")
    raw = SimpleNamespace(
        value=value, key=b"k", topic=settings.events_topic, partition=2, offset=17,
        timestamp=time.time(),
    )  # fmt: skip
    return ingest.classify(service, raw)[0]


def test_documented_headers_are_the_ones_ingest_writes(doc) -> None:
    keyed = message(doc, "eventsByCrossing")["headers"]
    record = ingest_record(VALID_EVENT)
    assert record.topic == "keyed"
    headers = dict(record.headers)
    assert sorted(headers) == sorted(keyed["required"]) == sorted(keyed["properties"])
    validator(doc, keyed).validate({k: v.decode() for k, v in headers.items()})

    dead = message(doc, "deadLetters")["headers"]
    record = ingest_record(b"not json")
    assert record.topic == asyncapi.default_settings().dlq_topic
    headers = {k: v.decode() for k, v in record.headers}
    assert sorted(headers) == sorted(dead["required"])
    validator(doc, dead).validate(headers)
    reasons = dead["properties"]["x-error-reason"]["enum"]
    assert reasons == [reason.value for reason in DeadLetterReason]


def test_export_check_names_a_drifted_document(tmp_path: Path, capsys) -> None:
    target = tmp_path / "asyncapi.yaml"
    args = ["--dir", str(tmp_path / "json"), "--asyncapi", str(target)]
    assert export.main(args) == 0
    assert export.main(["--check", *args]) == 0
    target.write_text(re.sub("partitions: 6", "partitions: 12", target.read_text()), "utf-8")
    capsys.readouterr()
    assert export.main(["--check", *args]) == 1
    assert f"drifted: {target}" in capsys.readouterr().err
