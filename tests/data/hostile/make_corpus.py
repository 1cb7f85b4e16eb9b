"""Regenerate the hostile-input corpus in this folder (deterministic; the files are committed).

    .venv/bin/python tests/data/hostile/make_corpus.py

Valid rows are the first 8 rows of sklearn's breast cancer data set: an "id" column with
leading zeros, then the 30 feature columns.  Header = row 1, data rows = rows 2..9.
"""

import random
from pathlib import Path

from sklearn.datasets import load_breast_cancer

HERE = Path(__file__).parent
DATA = load_breast_cancer()
FEATURES = [str(name) for name in DATA.feature_names]
HEADER = ["id"] + FEATURES
ROWS = [[f"{i + 1:05d}"] + [repr(float(v)) for v in DATA.data[i]] for i in range(8)]
RADIUS, TEXTURE = 1, 2  # field positions of "mean radius" and "mean texture"


def rows():
    return [list(r) for r in ROWS]


def text(table, sep=",", newline="\n"):
    return "".join(sep.join(r) + newline for r in table)


def write(name, content, encoding="utf-8"):
    data = content if isinstance(content, bytes) else content.encode(encoding)
    (HERE / name).write_bytes(data)


def main():
    write("empty.csv", b"")
    write("whitespace_only.csv", " \n\t\n  \r\n")
    write("header_only.csv", text([HEADER]))
    noise = random.Random(1234).randbytes(4096)
    write("binary.csv", b"\x00" + noise)  # random bytes, including NUL
    write("excel_workbook.csv", b"PK\x03\x04\x14\x00\x06\x00" + noise[:1024])  # a renamed .xlsx
    write("utf16.csv", text([HEADER] + rows(), "\t"), "utf-16")  # Excel's "Unicode Text"

    # "café" in latin-1 in the first row: not valid UTF-8, so the file is read as cp1252
    write("invalid_utf8.csv", text([HEADER + ["place"]] + [
        r + ["café" if i == 0 else ""] for i, r in enumerate(rows())]), "latin-1")

    table = rows()
    table[2].append("x")  # row 4
    write("extra_fields.csv", text([HEADER] + table))

    table = rows()
    table[4].pop()  # row 6
    write("missing_fields.csv", text([HEADER] + table))

    write("duplicate_columns.csv",
          text([HEADER + [" Mean Radius"]] + [r + [r[RADIUS]] for r in rows()]))

    table = rows()
    table[5][RADIUS] = "abc"  # row 7
    write("text_in_numeric.csv", text([HEADER] + table))

    table = rows()
    table[1][TEXTURE], table[2][TEXTURE], table[3][TEXTURE] = "NaN", "", "N/A"
    table[4][RADIUS] = " null "
    write("nan_accepted.csv", text([HEADER] + table))

    table = rows()
    table[7][TEXTURE] = "inf"  # row 9
    write("inf_rejected.csv", text([HEADER] + table))

    comments = ['"=HYPERLINK(""http://evil"",""x"")"', "+1", "-1", "@SUM(1)", "\tleading tab",
                '"\rleading CR"', "=1+1", '"-2+3,4"']
    write("formulas.csv", text([HEADER + ["comment"]] +
                               [r + [c] for r, c in zip(rows(), comments)]))

    table = [[v.replace(".", ",") for v in r] for r in rows()]
    table[3][TEXTURE] = ROWS[3][TEXTURE]  # with ";" a cell may still use a point
    write("semicolon_decimal_comma.csv", text([HEADER] + table, ";", "\r\n"))

    write("tab_delimited.csv", text([HEADER] + rows(), "\t"))
    write("bom_utf8.csv", "\ufeff" + text([HEADER] + rows()), "utf-8")
    write("cp1252.csv",
          text([HEADER + ["place"]] + [r + ["Montevideo ñandú"] for r in rows()], ",", "\r\n"),
          "cp1252")
    write("no_header.csv", text(rows()))

    odd = ["ID"] + [("  " + f.upper() + " ") if i % 2 else f.title() for i, f in
                    enumerate(FEATURES)]
    write("case_and_space_headers.csv", text([odd] + rows()))

    header = list(HEADER)
    header[RADIUS] = "mean_radius"
    write("misspelled_header.csv", text([header] + rows()))

    table = rows()
    table[3][0] = '"oops'  # row 5: the quote is never closed
    write("unclosed_quote.csv", text([HEADER] + table))

    table = rows()
    table[1][0] = '"00002"x'  # row 3
    write("text_after_quote.csv", text([HEADER] + table))

    lines = [",".join(HEADER + ["comment"])]
    for i, r in enumerate(rows()):
        lines.append(",".join(r + ['"line one\r\nline two"' if i == 4 else "plain"]))
        if i == 1:
            lines.append("")  # a blank line
        if i == 2:
            lines.append("   ")  # spaces only: blank too
    write("blank_lines_multiline.csv", "\r\n".join(lines) + "\r\n\r\n")

    write("unnamed_index_column.csv",
          text([[""] + HEADER] + [[str(i)] + r for i, r in enumerate(rows())]))

    table = rows()
    table[0][RADIUS] = "17,99"  # row 2; decimal commas need ";" as the delimiter
    write("decimal_comma_tab.csv", text([HEADER] + table, "\t"))


if __name__ == "__main__":
    main()
