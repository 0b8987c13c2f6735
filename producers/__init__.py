"""Producers: the ways jobs enter wanqueue (Python API and the ``wanq`` CLI).

Producers import only the job contract (``workers.contract``) from the worker side.
"""
