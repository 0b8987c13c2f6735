"""The HTTP surface: the ASGI app, its routes, the wire formats, fault injection, the server.

app.py       build_app(): the FastAPI application around one service.emulator.Emulator
api.py       the DashScope task API: async submit, task get, cancel, list, upload policy
sync.py      synchronous generation, JSON or SSE
oss.py       the fake OSS: result downloads, the upload target
admin.py     health, configuration at run time, stats, reset, outages
handling.py  serve(): request id, faults, ApiError → error answer; reading JSON bodies
wire.py      JSON bodies, DashScope JSON and OSS XML errors, SSE frames
faults.py    fault injection per endpoint group (errors, delays, drops, broken bodies)
server.py    uvicorn, with a socket handle for the dropped-connection fault
"""
