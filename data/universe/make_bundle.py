"""Build ``sp500_5yr.csv.gz`` from the shared folder of 250 per-ticker CSVs.

Run from the repository root::

    python data/universe/make_bundle.py /work/shared/data/sp500_5yr_part data/universe/sp500_5yr.csv.gz

Every cell is copied as text, byte for byte, so no value is re-rounded and every anomaly stays;
``Adj Close`` is left out (the source sets it equal to ``Close``, which this script checks). Rows
are grouped by ticker (alphabetical) and keep each file's order. The gzip header carries no
time stamp, so the same input gives the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

HEADER = ("date", "ticker", "open", "high", "low", "close", "volume")
SOURCE_HEADER = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]


def make_bundle(folder: Path, target: Path) -> int:
    """Write the long-format gzip CSV and return the number of data rows written."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    rows = 0
    for file in sorted(folder.glob("*.csv")):
        with file.open(newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            if header != SOURCE_HEADER:
                raise SystemExit(f"{file}: unexpected header {header}")
            for line, (date, o, h, low, c, adj, v) in enumerate(reader, start=2):
                if adj != c:
                    raise SystemExit(f"{file}: line {line}: Adj Close {adj!r} differs from Close {c!r}")
                writer.writerow((date, file.stem, o, h, low, c, v))
                rows += 1
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0,
                                               filename="") as gz:
        gz.write(out.getvalue().encode("utf-8"))
    tmp.replace(target)
    return rows


if __name__ == "__main__":
    source, destination = (Path(a) for a in sys.argv[1:3])
    print(f"{make_bundle(source, destination)} rows -> {destination}")
