"""The account limits that answer 429: submit rate, concurrent tasks, query budget.

gcra.py    request rates: the generic cell rate algorithm, per key
lanes.py   concurrency slots per account and model, with a FIFO queue
quotas.py  Limits: both applied per the current configuration, refusals as ApiError
"""
