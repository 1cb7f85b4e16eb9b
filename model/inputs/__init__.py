"""Reading uploads: the check of an uploaded CSV and the reader the job uses.

- scan: inspect_csv, the check of an uploaded CSV against the model's features.
- habits: spreadsheet habits (a title above the header, the encoding) fixed before the check.
- workbook: .xlsx/.xlsm/.ods and Parquet uploads converted to the canonical CSV.
"""
