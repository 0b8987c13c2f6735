"""Tasks: the record of an accepted request and its life as a function of time.

task.py      Task, its statuses and its lifecycle (no timer: status = f(clock))
planning.py  TaskPlan, drawn once at submit: durations, failure, lost images
store.py     the live tasks, with lazy expiry and the list filters
"""
