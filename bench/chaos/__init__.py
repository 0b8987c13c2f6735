"""The chaos suite of issue 5 (``make chaos``): 1,000 jobs through real workers while workers
are killed, Redis restarts, the upstream is down or slow and S3 is unavailable; the figures
say whether any job was lost, stuck or billed twice, and how fast the pipeline recovered.

Modules: :mod:`~bench.chaos.scenario` (the figures of the scenario and the workers' settings),
:mod:`~bench.chaos.schedule` (when each fault starts), :mod:`~bench.chaos.faults` (the
injectors), :mod:`~bench.chaos.crew` (killing and restarting workers),
:mod:`~bench.chaos.proxy` (a switchable TCP proxy in front of S3),
:mod:`~bench.chaos.redis_server` (a Redis with AOF that restarts in place),
:mod:`~bench.chaos.drive` (the run's loop), :mod:`~bench.chaos.recovery` (recovery times),
:mod:`~bench.chaos.locate` (where unfinished jobs stand), :mod:`~bench.chaos.probe`
(what holds the account's capacity during the run), :mod:`~bench.chaos.ledger` (the
upstream's tasks against the records), :mod:`~bench.chaos.audit` (the records' figures),
:mod:`~bench.chaos.run` (one run), :mod:`~bench.chaos.figures` (its figures) and
:mod:`~bench.chaos.report` (``chaos.json``).
"""
