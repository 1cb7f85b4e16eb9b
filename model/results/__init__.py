"""Writing results: the .xlsx and its CSV twin.

- cells: the cell rules both files, the quality check and the model template share.
- xlsx: the streaming .xlsx writer.
- zip_stream: the zip container the .xlsx is streamed into.
- files: the two result files written together (ResultFiles) and the ResultWriter protocol.
- process: the same files written in a process of their own beside the job (ResultFilesProcess).
"""
