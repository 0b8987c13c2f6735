"""Baselines that wanqueue is measured against: what a user would write by hand.

* :mod:`bench.baselines.sdk_threadpool`: the official SDK in a thread pool, one process.
* :mod:`bench.baselines.celery_naive`: a plain Celery task per job with Celery's own
  ``rate_limit`` (its app is :mod:`bench.baselines.naive_app`).

Both take the jobs of :func:`bench.baselines.common.job_inputs` and return a
:class:`bench.baselines.common.BaselineRun`.
"""
