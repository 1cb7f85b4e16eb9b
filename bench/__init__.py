"""Beyond's benchmark (issue 6): ``python -m bench`` / ``make bench``; see bench/__main__.py.

bench/bench_xlsx_writer.py times the .xlsx writer alone.
"""
