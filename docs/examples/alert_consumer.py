"""Follows border-surge alerts with aiokafka alone, checking each against the published JSON Schema.

A standalone example for other teams (docs/consumers.md): it imports nothing from border-surge,
only aiokafka and jsonschema (``pip install 'aiokafka[lz4]' jsonschema``; the service compresses
its records with lz4 by default). It reads ``read_committed``, as the topic's contract requires:
alerts are written in Kafka transactions and an aborted one must not be seen.

    python alert_consumer.py --schema alert.schema.json --from-beginning --exit-when-idle 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from jsonschema import Draft202012Validator

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "json" / "alert.schema.json"


def describe(alert: dict) -> str:
    """One line per alert: when, what, where, how far above normal, which episode."""
    where = alert["crossing_id"] or "border"
    return (
        f"{alert['emitted_at']}  {alert['status']:<8} {alert['severity']:<8} "
        f"{where} {alert['from_country']}->{alert['to_country']}  "
        f"{alert['observed']} vs {alert['expected']:.1f} expected  x{alert['ratio']:.2f}  "
        f"{alert['alert_id']}"
    )


def problems(validator: Draft202012Validator, value: bytes | None) -> list[str]:
    """What is wrong with a record's value; empty when it is a valid alert."""
    try:
        alert = json.loads(value or b"")
    except ValueError as exc:  # also bad UTF-8
        return [f"not JSON: {exc}"]
    found = []
    for error in sorted(validator.iter_errors(alert), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path) or "(root)"
        found.append(f"{where}: {error.message}")
    return found


async def follow(args: argparse.Namespace, validator: Draft202012Validator) -> int:
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap_server,
        group_id=args.group,  # None: no group, nothing committed
        isolation_level="read_committed",
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=args.group is not None,
    )
    await consumer.start()
    valid = invalid = 0
    last_record = time.monotonic()
    try:
        while args.exit_when_idle is None or time.monotonic() - last_record < args.exit_when_idle:
            batches = await consumer.getmany(timeout_ms=500)
            if not consumer.assignment():
                last_record = time.monotonic()  # idle means no alert once partitions are ours
            for records in batches.values():
                last_record = time.monotonic()
                for r in records:
                    found = problems(validator, r.value)
                    if found:
                        invalid += 1
                        where = f"{r.topic}[{r.partition}]@{r.offset}"
                        print(f"invalid alert at {where}: {'; '.join(found)}", file=sys.stderr)
                    else:
                        valid += 1
                        print(describe(json.loads(r.value)), flush=True)
    finally:
        await consumer.stop()
    print(f"{valid} valid alerts, {invalid} invalid", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-server", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="border.alerts")
    parser.add_argument("--schema", default=str(DEFAULT_SCHEMA), help="alert.schema.json")
    parser.add_argument("--group", help="consumer group: resume where it stopped")
    parser.add_argument("--from-beginning", action="store_true", help="else only new alerts")
    parser.add_argument(
        "--exit-when-idle", type=float, metavar="SECONDS", help="stop after SECONDS without one"
    )
    args = parser.parse_args(argv)
    schema = json.loads(Path(args.schema).read_text(encoding="utf-8"))
    try:
        return asyncio.run(follow(args, Draft202012Validator(schema)))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
