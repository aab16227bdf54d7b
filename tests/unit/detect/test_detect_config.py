"""Detection config: TOML parsing, override precedence and start-up errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.detect.config import (
    DetectConfigError,
    Thresholds,
    border_key,
    crossing_key,
    load_config,
    parse_config,
)
from streams.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "crossings.example.toml"


def test_no_file_gives_the_documented_defaults() -> None:
    th = load_config(None).for_crossing("vaalimaa", "RU", "FI")
    assert (th.warning_ratio, th.critical_ratio, th.resolve_ratio) == (1.5, 2.0, 1.2)
    assert (th.min_count, th.pending_evaluations, th.resolve_evaluations) == (30, 2, 3)
    assert th.window_ms == 3_600_000 and th.learning_ms == 7 * 86_400_000
    assert th.deescalate_ratio == pytest.approx(1.6)
    assert th.static_baseline is None and th.enabled


def test_example_file_parses_with_its_overrides() -> None:
    cfg = load_config(str(EXAMPLE))
    assert cfg.for_crossing("kazbegi-upper-lars", "RU", "GE").warning_ratio == 1.4
    assert cfg.for_crossing("kazbegi-upper-lars", "GE", "RU").warning_ratio == 1.4
    assert cfg.for_crossing("sarpi", "GE", "TR").enabled is False
    new = cfg.for_crossing("verkhny-lars-new", "RU", "GE")
    assert new.static_expected(3_600_000) == 250.0
    vaalimaa = cfg.for_crossing("vaalimaa", "RU", "FI")
    assert vaalimaa.static_expected(10 * 3_600_000) == pytest.approx(280.0)  # 09:00-10:00 UTC
    assert cfg.for_crossing("vaalimaa", "FI", "RU").static_baseline is None
    assert cfg.for_border("RU", "FI").critical_ratio == 1.8
    assert cfg.for_border("RU", "KZ").window_ms == 7_200_000
    assert cfg.for_border("RU", "GE") == cfg.defaults


def test_direction_overrides_crossing_overrides_defaults() -> None:
    cfg = parse_config(
        """
        [defaults]
        min_count = 50
        [crossings."vaalimaa:RU-FI"]
        critical_ratio = 3.0
        [crossings.vaalimaa]
        warning_ratio = 1.3
        critical_ratio = 2.5
        """
    )
    th = cfg.for_crossing("vaalimaa", "RU", "FI")
    assert (th.min_count, th.warning_ratio, th.critical_ratio) == (50, 1.3, 3.0)
    other = cfg.for_crossing("vaalimaa", "FI", "RU")
    assert (other.min_count, other.warning_ratio, other.critical_ratio) == (50, 1.3, 2.5)


def test_unknown_key_names_file_line_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "crossings.toml"
    path.write_text("[defaults]\nmin_count = 10\n\n[crossings.vaalimaa]\nwarnig_ratio = 1.3\n")
    with pytest.raises(DetectConfigError) as err:
        load_config(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}:5: crossings.vaalimaa.warnig_ratio:")
    assert "Extra inputs are not permitted" in message
    assert isinstance(err.value, ConfigError)


def test_bad_value_and_unknown_section_are_located() -> None:
    with pytest.raises(DetectConfigError, match=r"^c.toml:3: defaults.min_count: "):
        parse_config("[defaults]\n\nmin_count = 'many'\n", "c.toml")
    with pytest.raises(DetectConfigError, match=r"^c.toml:2: crossing: "):
        parse_config("\n[crossing.vaalimaa]\nmin_count = 1\n", "c.toml")


def test_inconsistent_thresholds_point_at_the_section() -> None:
    text = '[defaults]\nwarning_ratio = 1.5\n\n[borders."RU-FI"]\nresolve_ratio = 1.6\n'
    with pytest.raises(DetectConfigError, match=r"^c.toml:4: borders.RU-FI: .*resolve_ratio <"):
        parse_config(text, "c.toml")


def test_bad_subject_keys_are_rejected() -> None:
    with pytest.raises(DetectConfigError, match="border keys look like 'RU-GE'"):
        parse_config('[borders."russia-finland"]\nmin_count = 1\n')
    with pytest.raises(DetectConfigError, match="crossing-id:RU-GE"):
        parse_config('[crossings."vaalimaa:RUFI"]\nmin_count = 1\n')


def test_toml_syntax_error_keeps_tomllib_position() -> None:
    with pytest.raises(DetectConfigError, match=r"c.toml: invalid TOML: .*line 2"):
        parse_config("[defaults]\nmin_count = = 3\n", "c.toml")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(DetectConfigError, match="cannot read"):
        load_config(str(tmp_path / "nope.toml"))


def test_static_baseline_must_be_one_or_24_numbers() -> None:
    with pytest.raises(DetectConfigError, match="24 hourly numbers"):
        parse_config("[defaults]\nstatic_baseline = [1, 2, 3]\n")
    assert Thresholds(static_baseline=12).static_expected(0) == 12.0


def test_subject_keys() -> None:
    assert crossing_key("kazbegi-upper-lars", "RU", "GE") == "kazbegi-upper-lars:RU-GE"
    assert border_key("RU", "GE") == "RU-GE"
