"""The scale-out proof (issue 13): the deployment guide's scale mode started for real on this machine.

`cluster.Cluster` starts what docs/deployment.md's scale mode starts (2 web, 2 workers, 1 scheduler, PostgreSQL,
Redis, plus a fake Kommo); `python -m tests.scaleout.run` is the CI scenario (`make scaleout-test`); the bench
scenarios `scaleout.*` (bench/scenarios/scaleout.py) measure on the same cluster.
"""
