"""The pipeline's logic as plain functions of a :class:`~workers.runtime.Runtime`.

``submit``, ``poll``, ``store`` and ``cancel`` each take a job id, load the record, act, and
record the outcome; ``workers.tasks`` wraps each in a thin Celery task. Every function is
idempotent under redelivery: the record's state (which never goes backwards), its submit
intent and its poll token decide what a repeated message may still do. ``sweep`` finds the
jobs whose next message was lost and drives them on the same way, from each process's
dispatcher.
"""
