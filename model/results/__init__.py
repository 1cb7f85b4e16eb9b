"""Writing results: the .xlsx and its CSV twin.

- xlsx: the streaming .xlsx writer.
- zip_stream: the zip container the .xlsx is streamed into.
- files: the two result files written together (ResultFiles).
- process: the same, in a process of its own beside the job (ResultFilesProcess).
"""
