"""The emulated service without HTTP: all state, and the bodies it answers with.

emulator.py  Emulator: accept, follow, cancel and list tasks; results, config, reset
views.py     task bodies as the real service shapes them (times, outputs, usage)
listing.py   GET /tasks: query parameters in, one page out
stats.py     the counters behind GET /admin/stats
"""
