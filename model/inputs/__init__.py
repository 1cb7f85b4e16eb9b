"""Reading uploads: the check of an uploaded file and the reader the job uses.

- report: what the check reports (Problem, CsvFormat, CsvReport).
- sniff: the raw bytes (binary? encoding), physical lines and the delimiter.
- conversions: what a cell of each feature type must hold and what the model gets for it.
- scan: inspect_csv, the check of an uploaded CSV against the model's features.
- reader: the one chunk reader a job uses (read_chunks, model_frame) and the pandas options.
- habits: spreadsheet habits (a title above the header, the encoding) fixed before the check.
- workbook: .xlsx/.xlsm/.ods and Parquet uploads converted to the canonical CSV.
- compressed: a .csv.gz or a .zip holding one CSV, decompressed to the CSV that is checked.
- isolated: a conversion or decompression in a child process with a memory limit.
"""
