"""A local emulator of the DashScope Wan image-editing API (``python -m emulator``).

Request path, top to bottom::

    __main__ ─ server (uvicorn, socket handle for dropped connections) ─ app.build_app
      api      async submit, task get/cancel/list, upload policy   ┐
      sync     synchronous generation, JSON or SSE                 ├─ httpio.serve ─ faults
      oss      result downloads, fake OSS upload target            ┘
      admin    health, config at run time, stats, reset, outages
    service.Emulator: all state, no HTTP
      auth (keys → accounts)  limits (ratelimit: GCRA, lanes: concurrency and queue)
      validation (request rules, by emulator.rules and sizing)  sources (input bytes)
      intake → tasks (lifecycle as a function of time, planned by planning) → store
      views (wire shapes), listing (GET /tasks), results (signed URLs, images.render_result)
      uploads (+ multipart), stats, bytecache
    config (+ faultconfig): the pydantic configuration; constants, errors, wire: shared bits

process.EmulatorProcess runs it as a subprocess for tests and benchmarks.
"""
