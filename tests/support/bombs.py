"""Small files that unpack to huge tables (issue 22, H1 and H2), written as real bytes: a
minimal .xlsx with one cell at XFD1048576, an .ods of repeated rows and columns, a Parquet file
of one value repeated, and a plain sheet of a given size."""

from __future__ import annotations

import zipfile
from pathlib import Path

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '</Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/></Relationships>')


def _column(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def xlsx(path: Path, rows: list[str], dimension: str) -> Path:
    """A minimal .xlsx whose one sheet 'Data' holds the given <row> elements."""
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f'<dimension ref="{dimension}"/><sheetData>{"".join(rows)}</sheetData></worksheet>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


def xlsx_far_cell(path: Path) -> Path:
    """H1: a header cell at A1 and one number at XFD1048576; the dimension claims the whole sheet."""
    return xlsx(path, ['<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c></row>',
                       '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'], "A1:XFD1048576")


def xlsx_grid(path: Path, rows: int, columns: int) -> Path:
    """A plain sheet of rows x columns numbers (a header of c1..cN above them)."""
    header = "".join(f'<c r="{_column(c)}1" t="inlineStr"><is><t>c{c}</t></is></c>' for c in range(1, columns + 1))
    body = ['<row r="1">' + header + "</row>"]
    for r in range(2, rows + 2):
        body.append(f'<row r="{r}">' + "".join(f'<c r="{_column(c)}{r}"><v>{c}</v></c>'
                                               for c in range(1, columns + 1)) + "</row>")
    return xlsx(path, body, f"A1:{_column(columns)}{rows + 1}")


def ods_repeated(path: Path, rows: int = 60_000, columns: int = 1_000) -> Path:
    """H2: a few hundred bytes of content.xml declaring rows x columns copies of one number."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Data">'
        '<table:table-row><table:table-cell office:value-type="string"><text:p>id</text:p></table:table-cell>'
        '</table:table-row>'
        f'<table:table-row table:number-rows-repeated="{rows}">'
        f'<table:table-cell table:number-columns-repeated="{columns}" office:value-type="float" office:value="1">'
        '<text:p>1</text:p></table:table-cell></table:table-row>'
        '</table:table></office:spreadsheet></office:body></office:document-content>')
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        '</manifest:manifest>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", content)
    return path


def parquet_repeated(path: Path, rows: int = 1_000_000, width: int = 200) -> Path:
    """H2: one column of a single `width`-character text repeated `rows` times (dictionary
    encoded, so the file is a few KB and its CSV rows x width bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    value = pa.array(["x" * width], pa.string()).dictionary_encode()
    column = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), value.dictionary)
    pq.write_table(pa.table({"id": column}), path, compression="zstd")
    return path


def parquet_accepted(path: Path, features: list[str], rows: int) -> Path:
    """A Parquet file the model accepts: every feature holds the same long number in every row
    (run-length encoded: a few KB, whose CSV is about rows x 12 bytes per feature)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {name: pa.array([12.3456789] * rows, pa.float64()) for name in features}
    pq.write_table(pa.table(columns), path, compression="zstd")
    return path
