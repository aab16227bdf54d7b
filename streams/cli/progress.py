"""A one-line progress display for terminals (plain lines when not a terminal)."""

from __future__ import annotations

import time
from typing import Any, TextIO


class ProgressLine:
    def __init__(self, out: TextIO, width: int = 30) -> None:
        self.out = out
        self.width = width
        self.tty = out.isatty()
        self._last_plain = 0.0

    def __call__(self, p: Any) -> None:
        total = p.total or 0
        frac = p.sent / total if total else 0.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        when = p.event_time.strftime("%Y-%m-%d %H:%M") if p.event_time else "-"
        line = f"[{bar}] {p.sent:,}/{total:,} events  {p.rate:,.0f}/s  event time {when}"
        if self.tty:
            self.out.write("\r" + line)
            self.out.flush()
        elif time.monotonic() - self._last_plain > 5:
            self._last_plain = time.monotonic()
            self.out.write(line + "\n")

    def done(self) -> None:
        if self.tty:
            self.out.write("\n")
