"""The emulator's configuration: one frozen pydantic root with nested sections.

    root.py      EmulatorConfig; reading it from a file, replacing and merge-patching it
    sections.py  latency and failures per model, accounts and their limits, Retry-After
    faults.py    fault injection per endpoint group, outage windows

Imports nothing of the emulator but its constants and error messages.
"""
