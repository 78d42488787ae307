"""Rebuild the bad-CSV corpus in this folder from real AAPL bars (``python tests/data/bad/make_corpus.py``).

Each file is 150 consecutive real AAPL rows (2017-06-01 onwards, from ``data/AAPL.csv``) broken in one
way; README.md lists every file, what is wrong with it and the message fragment the CLIs must print.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[2] / "data" / "AAPL.csv"
ROWS = 150
BAD_LINE = 60  # the 0-based data row that gets broken (file line BAD_LINE + 2)


def main():
    lines = SOURCE.read_text().splitlines()
    header, body = lines[0], lines[1:]
    start = next(i for i, line in enumerate(body) if line.startswith("2017-06-01"))
    rows = body[start:start + ROWS]

    def with_row(change):
        out = list(rows)
        cells = out[BAD_LINE].split(",")
        change(cells)
        out[BAD_LINE] = ",".join(cells)
        return out

    def cell(index, value):
        return with_row(lambda cells: cells.__setitem__(index, value))

    def write(name, data_rows, head=header, text=None):
        path = HERE / name
        if text is not None:
            path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
        else:
            path.write_text("\n".join([head, *data_rows]) + "\n")

    # Date,Open,High,Low,Close,Adj Close,Volume  -> indices 0..6
    write("empty.csv", [], text="")
    write("header_only.csv", [], text=header + "\n")
    drop = lambda r, i: ",".join(c for j, c in enumerate(r.split(",")) if j != i)  # noqa: E731
    write("missing_close.csv", [drop(r, 4) for r in rows], head=drop(header, 4))
    write("no_date_column.csv", [drop(r, 0) for r in rows], head=drop(header, 0))
    write("bad_date.csv", cell(0, "2017-13-45"))
    again = rows[BAD_LINE].split(",")
    again[6] = str(int(again[6]) + 1000)  # the same date again with another volume
    write("duplicate_date.csv", rows[:BAD_LINE + 1] + [",".join(again)] + rows[BAD_LINE + 1:])
    write("non_numeric.csv", cell(2, "abc"))
    write("thousands_separator.csv", cell(6, '"31,193,400"'))
    write("blank_value.csv", cell(4, ""))
    write("nan_value.csv", cell(1, "NaN"))
    write("null_value.csv", cell(6, "null"))
    write("infinite_value.csv", cell(3, "inf"))
    write("zero_price.csv", cell(3, "0"))
    write("negative_price.csv", with_row(lambda c: (c.__setitem__(1, "-150.0"), c.__setitem__(3, "-151.0"))))
    write("high_below_low.csv", with_row(lambda c: (c.__setitem__(2, c[3]), c.__setitem__(3, str(float(c[2]) + 5)))))
    write("close_above_high.csv", with_row(lambda c: c.__setitem__(4, str(float(c[2]) + 1))))
    write("negative_volume.csv", cell(6, "-100"))
    write("truncated.csv", rows[:-1] + [",".join(rows[-1].split(",")[:2])])
    write("ragged_row.csv", with_row(lambda c: c.extend(["1", "2"])))
    write("too_few_rows.csv", rows[:60])
    write("semicolon_decimal_comma.csv", [r.replace(",", ";").replace(".", ",") for r in rows],
          head=header.replace(",", ";"))
    write("latin1.csv", [], text=("\n".join([header + ",Note", *(r + ",ok" for r in rows[:BAD_LINE]),
                                            rows[BAD_LINE] + ",caf\xe9"]) + "\n").encode("latin-1"))
    write("binary.csv", [], text=bytes(range(256)) * 8)
    write("spreadsheet.xlsx", [], text=b"PK\x03\x04" + bytes(200))


if __name__ == "__main__":
    main()
