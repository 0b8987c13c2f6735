"""A local emulator of the DashScope Wan image-editing API (``python -m emulator``).

The tree is the design; dependencies point down this list, never up::

    __main__ ─ http.server (uvicorn) ─ http.app.build_app
    http/      the HTTP surface: routes (api, sync, oss, admin), handling.serve (request id,
               faults, ApiError → answer), wire formats, fault injection
    service/   Emulator: all state and behaviour, no HTTP; the bodies it answers (views,
               listing) and what it counts (stats)
    intake/    accepting a request: the rule table and its checks, output sizing, the body,
               input images and where their bytes come from, the new task
    limits/    429s: submit rate and query budget (GCRA), concurrency lanes
    storage/   the fake OSS: uploads, signed result URLs, rendered result images
    tasks/     the task record, its plan and its lifecycle as a function of time; the store
    auth       API keys → accounts
    config/    the pydantic configuration (root, sections, faults)
    constants, errors   every fixed value; the one error answer type and its messages

devstack.emulator.EmulatorProcess runs it as a subprocess for tests, benchmarks and the demo.
"""
