"""The local stack: what the demo and the integration tests run, as real processes.

* :mod:`devstack.redis`: the Redis to use, or a private ``redis-server`` / embedded
  ``valkey-server`` (``python -m devstack.redis --ensure`` for the Makefile);
* :mod:`devstack.s3`: the configured S3 endpoint, or moto's server with the bucket;
* :mod:`devstack.workers`: ``celery worker`` subprocesses (stop, kill, restart);
* :mod:`devstack.flower`: Flower behind basic auth;
* :mod:`devstack.stack`: all of them (and the emulator) composed, each optional;
* :mod:`devstack.env`: settings handed to children as ``WANQ_*`` variables;
* :mod:`devstack.envfile`: ``.env.example`` and the README's table, from the settings;
* :mod:`devstack.demo`: the demo behind ``make demo``.
"""
