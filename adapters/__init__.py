"""Adapters every side may import: the one S3 adapter and the one Redis client builder.

Workers, producers and the local stack all reach S3 and Redis; the clients they build and the
way third-party exceptions become the project's error tree (:mod:`workers.errors`) are
defined here once. This package imports only :mod:`config` and :mod:`workers.errors`.
"""
