"""What the check of an upload reports: `Problem`, `CsvFormat`, `CsvReport` (and its trusted
JSON form, so a worker can read an accepted file without checking it again), and `Problems`,
which keeps the first problems and counts them all."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

TRUSTED_VERSION = 2  # the shape of CsvReport.trusted_json() (2: with row_starts); another one is not trusted


@dataclass(frozen=True)
class Problem:
    message: str  # a full sentence, e.g. "Row 7, column 'mean radius': 'abc' is not a number."
    row: int | None = None  # spreadsheet row: header = 1, first data row = 2
    column: str | None = None  # header cell as written (or the feature name if missing)

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class CsvFormat:
    encoding: str  # "utf-8-sig", "cp1252" or "latin-1"
    delimiter: str  # "," ";" or "\t"
    decimal: str  # "," only with ";" (then both "." and "," are accepted), else "."


@dataclass
class CsvReport:
    ok: bool
    problems: list[Problem]
    total_problems: int
    format: CsvFormat | None
    header: list[str]
    feature_columns: dict[str, int]  # feature name -> file column index, for the columns present
    rows: int
    # category feature -> cells holding a value not seen in training (for a quality report)
    unseen_categories: dict[str, int] = field(default_factory=dict)
    # Of total_problems, those of single cells that do not fit their column's type (text in a
    # number column...), and the data rows holding them: such a file can still be read, those
    # cells becoming missing values (see `cell_problems`); every other problem is structural.
    cell_problems: int = 0
    bad_rows: int = 0
    # Where each run of consecutive spreadsheet rows starts among the data rows: [data row
    # index (0: the first data row), its row number]; a new run after every blank line (or
    # the rows above a workbook's header).  Empty: the header is row 1 and no blank line
    # follows, so data row i is row i + 2.  See `row_numbers`.
    row_starts: list[tuple[int, int]] = field(default_factory=list)

    def row_numbers(self, start: int, count: int) -> np.ndarray:
        """The row numbers, as a spreadsheet shows them and the check's messages name them, of
        the data rows start to start + count (data row 0 is the first after the header; pandas
        reads exactly these records, blank lines skipped)."""
        index = np.arange(start, start + count, dtype=np.int64)
        if not self.row_starts:
            return index + 2
        starts = np.asarray([(0, 2), *self.row_starts], dtype=np.int64)  # a later (0, r) wins
        run = np.searchsorted(starts[:, 0], index, side="right") - 1
        return starts[run, 1] + index - starts[run, 0]

    def as_dict(self) -> dict:
        return asdict(self)

    def trusted_json(self) -> str:
        """What reading the file needs, as JSON, for a worker to run it without scanning it
        again (job_inputs.checked_report, migration 012): the format, the header, where the
        features are, the counts. Not the problem messages: a file that is read on trust was
        accepted, so nothing shows them again; the counts keep `ok`, `readable` and
        `acceptable` as they were."""
        if self.format is None:
            raise ValueError("trusted_json() needs the report of a file that could be read.")
        return json.dumps({
            "version": TRUSTED_VERSION,
            "format": asdict(self.format), "header": self.header, "feature_columns": self.feature_columns,
            "rows": self.rows, "cell_problems": self.cell_problems, "bad_rows": self.bad_rows,
            "unseen_categories": self.unseen_categories, "total_problems": self.total_problems,
            "row_starts": self.row_starts,
        }, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_trusted_json(cls, text: str) -> CsvReport:
        """The report `trusted_json` stored (problems: none kept). ValueError for anything else,
        e.g. another version of the shape: the caller then checks the file again."""
        try:
            data = json.loads(text)
            if data.get("version") != TRUSTED_VERSION:
                raise ValueError(f"trusted report version {data.get('version')!r}, not {TRUSTED_VERSION}")
            fmt = data["format"]
            header = [str(h) for h in data["header"]]
            total = int(data["total_problems"])
            return cls(
                ok=total == 0, problems=[], total_problems=total,
                format=CsvFormat(str(fmt["encoding"]), str(fmt["delimiter"]), str(fmt["decimal"])),
                header=header, feature_columns={str(k): int(v) for k, v in data["feature_columns"].items()},
                rows=int(data["rows"]),
                unseen_categories={str(k): int(v) for k, v in data["unseen_categories"].items()},
                cell_problems=int(data["cell_problems"]), bad_rows=int(data["bad_rows"]),
                row_starts=[(int(i), int(r)) for i, r in data["row_starts"]],
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a trusted report: {exc!r}") from exc

    @property
    def readable(self) -> bool:
        """Whether every problem is a cell problem: the file can be read and scored row by
        row, the rows with bad cells left unscored."""
        return self.format is not None and self.total_problems == self.cell_problems

    def acceptable(self, max_bad_rows_percent: float) -> bool:
        """ok, or only cell problems confined to at most `max_bad_rows_percent` % of the data
        rows (the setting MAX_BAD_ROWS_PERCENT; 0: no bad cell at all)."""
        if self.ok:
            return True
        return (max_bad_rows_percent > 0 and self.readable and self.rows > 0
                and self.bad_rows * 100 <= max_bad_rows_percent * self.rows)


class Problems:
    """Keeps the first `keep` problems and counts all of them."""

    def __init__(self, keep: int):
        self.keep, self.total = max(keep, 0), 0
        self.kept: list[Problem] = []

    @property
    def room(self) -> int:
        return self.keep - len(self.kept)

    def add(self, message: str, row: int | None = None, column: str | None = None) -> None:
        self.total += 1
        if self.room > 0:
            self.kept.append(Problem(message, row, column))

    def add_batch(self, count: int, first: list[Problem]) -> None:
        """`count` problems of which `first` are the earliest ones, sorted."""
        self.total += count
        self.kept.extend(first[: self.room])

    def stop_notice(self, message: str, row: int) -> None:
        # Replace the last kept problem if necessary so the user always sees why we stopped.
        if self.keep and not self.room:
            self.kept.pop()
        self.add(message, row)
