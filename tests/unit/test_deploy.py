"""deploy/: the dashboard, the Prometheus rules and the Kubernetes manifests match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from streams.detect.config import parse_config
from streams.metrics import Metrics
from streams.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC = re.compile(r"\bborder_[a-z0-9_]+\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def exported_names() -> set[str]:
    """Every sample name /metrics can carry."""
    names = set()
    for family in Metrics().registry.collect():
        names.update(family.name + s for s in SUFFIXES[family.type])
    return names


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def test_every_dashboard_query_uses_metrics_the_worker_exports() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "border-surge.json").read_text())
    known = exported_names()
    queried = set()
    ids = []
    for panel in panels(dashboard):
        ids.append(panel["id"])
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel["targets"]:
            names = set(METRIC.findall(target["expr"]))
            assert names, target["expr"]
            assert names <= known, (panel["title"], names - known)
            queried |= names
    assert len(ids) == len(set(ids))
    # What the issue asks the dashboard to show.
    for name in (
        "border_rolling_travellers",
        "border_expected_travellers",
        "border_alert_messages_total",
        "border_consumer_lag_records",
        "border_events_counted_total",
    ):
        assert name in queried


def test_prometheus_rules_use_metrics_the_worker_exports() -> None:
    known = exported_names()
    for path in (DEPLOY / "prometheus").rglob("*.yml"):
        names = set(METRIC.findall(path.read_text()))
        assert names <= known, (path.name, names - known)


def k8s_objects() -> dict[str, dict[str, Any]]:
    objects = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization" and "metadata" in doc:
                objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def test_k8s_worker_settings_probes_and_ports_match_the_service() -> None:
    objects = k8s_objects()
    deployment = objects["Deployment/border-surge"]
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    env.update(objects["ConfigMap/border-surge"]["data"])
    fields = {f"BORDER_SURGE_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    settings = Settings(
        **{k.removeprefix("BORDER_SURGE_").lower(): v for k, v in env.items() if v is not None}
    )
    assert settings.web_host == "0.0.0.0" and settings.log_format == "json"

    [port] = container["ports"]
    assert port["containerPort"] == settings.web_port
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(settings.web_port)
    assert objects["Service/border-surge"]["spec"]["ports"][0]["targetPort"] == port["name"]
    web = (Path(__file__).resolve().parents[2] / "streams" / "web" / "api.py").read_text()
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert f'@app.page("{container[probe]["httpGet"]["path"]}")' in web
    assert container["resources"]["requests"]["memory"]

    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    config_dir = str(Path(str(settings.config)).parent)
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mounts[config_dir])
    crossings = objects[f"ConfigMap/{volume['configMap']['name']}"]["data"]
    parse_config(crossings[Path(str(settings.config)).name], "crossings.toml")
