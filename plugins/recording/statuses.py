"""A recording's statuses, in the order it moves through them (its own module: the config schema, which
every CLI command loads, must not pull in peewee through the models)."""

STARTING, ACTIVE, STOPPING, COMPLETE, FAILED = "starting", "active", "stopping", "complete", "failed"
STATUSES = (STARTING, ACTIVE, STOPPING, COMPLETE, FAILED)
RUNNING = (STARTING, ACTIVE)
UNFINISHED = (STARTING, ACTIVE, STOPPING)
# Webhooks may skip or repeat statuses and come in any order: only moves to a higher rank apply.
RANK = {STARTING: 0, ACTIVE: 1, STOPPING: 2, COMPLETE: 3, FAILED: 3}
