"""The ``make bench`` scenarios of issue 4; ``python -m bench.scenarios [name ...]``."""
