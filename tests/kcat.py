"""kcat (librdkafka), a client that is not ours, as upstream producers run it."""

from __future__ import annotations

import shutil
import subprocess


def kcat_produce(
    bootstrap: str,
    topic: str,
    codec: str,
    key: str,
    values: list[bytes],
    *,
    partition: int | None = None,
) -> None:
    """One kcat run: `key TAB value` per line, batched (linger) so that a run makes one
    compressed batch; records up to 3 MB leave the client (the topic decides what it takes)."""
    kcat = shutil.which("kcat")
    assert kcat, "kcat is not installed (deploy/local/system-deps.sh installs it)"
    lines = b"".join(key.encode() + b"\t" + v + b"\n" for v in values)
    args = [kcat, "-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-z", codec]
    args += ["-X", "linger.ms=50", "-X", "message.max.bytes=3000000", "-c", str(len(values))]
    if partition is not None:
        args += ["-p", str(partition)]
    subprocess.run(args, input=lines, check=True, timeout=60)
