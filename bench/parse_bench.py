"""Parse benchmark: the fast header path against the naive stdlib parse, same files, same run.

Extracts the Enron corpus to a temporary directory, then times over the same files (each read from disk):
- baseline: ``BytesParser(policy=default)``, reading From/To/Cc/Bcc addresses and the body (what a naive
  importer does);
- ``parse_message`` (what every email of an import goes through);
- ``parse_message`` plus ``extract_bodies`` (what an email that is imported goes through);
- ``parse_message`` again over bytes already in memory (the parser alone, without file reads).

Prints each rate (messages per second, wall clock and CPU) and the ratios. Goal (issue 2): parse_message at
least 10x the baseline. ``--limit N`` uses the first N files (sorted) for a quicker run.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

from mailtrail.mail.addresses import clear_caches as address_caches_clear
from mailtrail.mail.rfc822 import extract_bodies, parse_message

NAIVE_PARSER = BytesParser(policy=default)
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpora" / "enron-inbox.tar.xz"


def extract(corpus: Path, into: Path) -> list[Path]:
    """Unpack the tarball (regular files only) and list the message files, as the import would see them."""
    with tarfile.open(corpus, mode="r:xz") as archive:
        archive.extractall(into, filter="data")
    return sorted(
        p for p in into.rglob("*") if p.is_file() and p.name != ".DS_Store" and not p.name.endswith(".csv")
    )


def naive(raw: bytes) -> None:
    message = NAIVE_PARSER.parsebytes(raw)
    try:
        for header in ("from", "to", "cc", "bcc"):
            value = message[header]
            if value is not None:
                [address.addr_spec for address in value.addresses]
        body = message.get_body(preferencelist=("plain", "html"))
        if body is not None:
            body.get_content()
    except Exception:  # noqa: S110 - the baseline counts what it could read, as a naive importer would
        pass


def fast(raw: bytes) -> None:
    parse_message(raw)


def fast_with_bodies(raw: bytes) -> None:
    parse_message(raw)
    extract_bodies(raw)


def timed(label: str, files: list[Path], parse: Callable[[bytes], None]) -> float:
    """Run ``parse`` over every file (read from disk each time); print and return messages per second."""
    wall, cpu = time.perf_counter(), time.process_time()
    for path in files:
        parse(path.read_bytes())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rate = len(files) / wall
    cpu_rate = len(files) / cpu
    print(f"{label:<34} {len(files):>6} msgs  {wall:8.2f} s  {rate:>9,.0f} msg/s  ({cpu_rate:,.0f}/s CPU)")
    return rate


def timed_in_memory(
    label: str, files: list[Path], parse: Callable[[bytes], None], chunk: int = 2000
) -> float:
    """Like :func:`timed`, counting only the parsing: files are read a chunk at a time, outside the clock."""
    wall = cpu = 0.0
    for start in range(0, len(files), chunk):
        raws = [path.read_bytes() for path in files[start : start + chunk]]
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        for raw in raws:
            parse(raw)
        wall += time.perf_counter() - wall_start
        cpu += time.process_time() - cpu_start
    rate = len(files) / wall
    cpu_rate = len(files) / cpu
    print(f"{label:<34} {len(files):>6} msgs  {wall:8.2f} s  {rate:>9,.0f} msg/s  ({cpu_rate:,.0f}/s CPU)")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N files")
    args = parser.parse_args()
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mailtrail-parse-bench-") as tmp:
        started = time.perf_counter()
        files = extract(args.corpus, Path(tmp))
        if args.limit:
            files = files[: args.limit]
        print(f"extracted {len(files)} files in {time.perf_counter() - started:.1f} s")
        baseline = timed("naive BytesParser(policy=default)", files, naive)
        header_path = timed("parse_message", files, fast)
        with_bodies = timed("parse_message + extract_bodies", files, fast_with_bodies)
        # A fresh process would start with empty address caches; clear them so this pass starts cold too.
        address_caches_clear()
        in_memory = timed_in_memory("parse_message, bytes in memory", files, fast)
    print(f"parse_message / naive:                   {header_path / baseline:6.1f}x  (goal: at least 10x)")
    print(f"parse_message + extract_bodies / naive:  {with_bodies / baseline:6.1f}x")
    print(f"parse_message in memory / naive:         {in_memory / baseline:6.1f}x  (file reads not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
