"""The model registry: every deployed version of every model and which one is active.

- models    the registry (table ``models``): deploy, activate, roll back, load versions
- archive   a model directory uploaded as a .zip, unpacked as untrusted input
- template  a model's template CSV: its header and two example rows
- trial     the deploy trial: the model loaded and tried on a few rows in a child process
"""
