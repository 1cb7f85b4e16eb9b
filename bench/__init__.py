"""Beyond's benchmark (issue 6): ``python -m bench`` / ``make bench``; see bench/__main__.py.

bench/floor_multiples.py (``python -m bench --issue15``) measures issue 15's floor, the
worker's job as cron runs it and the seconds per stage; bench/bench_xlsx_writer.py times the
.xlsx writer alone.
"""
