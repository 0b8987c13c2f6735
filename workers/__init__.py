"""Workers: the upstream client, the job contract, and (later) the Celery tasks."""
