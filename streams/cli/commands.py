"""The `border-surge` command line: worker, topics, emit, simulate, alerts, run, stop."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from streams.errors import BorderSurgeError
from streams.logs import setup_logging
from streams.settings import Settings, load_settings

logger = logging.getLogger("border_surge")


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from faust.worker import Worker

    from streams.app import create_service
    from streams.cli import collector
    from streams.kafka.admin import ensure_topics
    from streams.logs import logging_config

    # Topics are checked before Faust starts: a partition mismatch would otherwise make the
    # agent crash-loop while the worker looks alive.
    asyncio.run(ensure_topics(settings))
    service = create_service(settings)
    collector.tune_for_the_worker()
    worker = Worker(
        service.app,
        loglevel=settings.log_level.lower(),
        quiet=True,
        logging_config=logging_config(settings),  # else Faust installs its own format
    )
    # At WARN and above Faust's terminal spinner sets the root logger to DEBUG, so every debug
    # call in aiokafka (one per produced record) built a log record only to drop it: 5% of CPU.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0


def _topics(settings: Settings, args: argparse.Namespace) -> int:
    from streams.kafka.admin import ensure_topics

    report = asyncio.run(ensure_topics(settings))
    for name in report.created:
        print(f"created  {name}")
    for name in report.existing:
        print(f"ok       {name}")
    return 0


def _emit(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.emit import emit_file

    report = asyncio.run(emit_file(settings, args.file))
    for line_no, error in report.errors:
        print(f"{args.file}:{line_no}: {error}", file=sys.stderr)
    print(f"sent {report.sent} events, rejected {len(report.errors)} lines")
    return 1 if report.errors else 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.progress import ProgressLine
    from streams.kafka.clients import client_kwargs
    from streams.simulate import generate, load_scenario
    from streams.simulate.sender import send_scenario

    scenario = load_scenario(args.scenario)
    messages = list(generate(scenario, seed=args.seed))
    progress = ProgressLine(sys.stderr)
    stats = asyncio.run(
        send_scenario(
            settings.bootstrap_servers,
            settings.events_topic,
            messages,
            mode="live" if args.live else "replay",
            speed=args.speed,
            progress=progress,
            client_options=client_kwargs(settings),
        )
    )
    progress.done()
    print(f"sent {stats.sent} messages in {stats.elapsed_s:.1f} s ({stats.rate:,.0f}/s)")
    return 0


def _alerts(settings: Settings, args: argparse.Namespace) -> int:
    from streams.alerting.follow import print_alerts

    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # the output is the alerts
    return asyncio.run(
        print_alerts(
            settings,
            sys.stdout,
            sys.stderr,
            follow=args.follow,
            as_json=args.json,
            from_beginning=args.from_beginning,
        )
    )


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.run import run

    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    return run(settings, args.scenario, args.seed, args.timeout, sys.stdout)


def _stop(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.background_worker import stop

    return stop(settings, sys.stdout)


def _health(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when the worker answers /readyz with 200, 1 otherwise (for probes and scripts)."""
    import json
    import urllib.error
    import urllib.request

    url = f"http://{settings.web_host}:{settings.web_port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
        print(f"not ready: {body.get('checks', body)}")
        return 1
    except (OSError, ValueError) as exc:
        print(f"not ready: {url} does not answer ({exc})")
        return 1
    print("ready" if body.get("ready") else f"not ready: {body}")
    return 0 if body.get("ready") else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="border-surge", description="Border-crossing counts and surge alerts on Kafka."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("worker", help="run the stream worker").set_defaults(func=_worker)
    topics = sub.add_parser("topics", help="create or check the service's topics")
    topics.add_argument("action", choices=["create"])
    topics.set_defaults(func=_topics)
    emit = sub.add_parser("emit", help="validate a JSON-lines file and send its events")
    emit.add_argument("file")
    emit.set_defaults(func=_emit)
    sim = sub.add_parser("simulate", help="send a scenario's simulated traffic")
    sim.add_argument("--scenario", default="mobilization-2022", help="name or TOML path")
    sim.add_argument("--seed", type=int, default=None)
    mode = sim.add_mutually_exclusive_group()
    mode.add_argument("--replay", action="store_true", help="as fast as possible (default)")
    mode.add_argument("--live", action="store_true", help="paced by event time")
    sim.add_argument("--speed", type=float, default=1.0, help="event time per wall time (live)")
    sim.set_defaults(func=_simulate)
    alerts = sub.add_parser("alerts", help="print the alerts topic, one line per alert")
    alerts.add_argument("--follow", "-f", action="store_true", help="keep printing new alerts")
    alerts.add_argument("--json", action="store_true", help="the raw records, one per line")
    alerts.add_argument(
        "--from-beginning",
        action="store_true",
        help="print the history first, then follow (without --follow, the history is all there is)",
    )
    alerts.set_defaults(func=_alerts)
    run = sub.add_parser("run", help="topics, worker, scenario replay, alerts and a summary")
    run.add_argument("--scenario", default="mobilization-2022", help="name or TOML path")
    run.add_argument("--seed", type=int, default=2022)
    run.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the worker to catch up"
    )
    run.set_defaults(func=_run)
    sub.add_parser("stop", help="stop the worker `run` started").set_defaults(func=_stop)
    health = sub.add_parser("health", help="exit non-zero unless the worker is ready")
    health.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    health.set_defaults(func=_health)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        setup_logging(settings)
        return int(args.func(settings, args) or 0)
    except BorderSurgeError as exc:
        print(f"border-surge: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # settings: names the variable, never its value
        print(f"border-surge: invalid settings: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
