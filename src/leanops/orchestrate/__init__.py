"""The orchestrator: registry-driven cycles over all topics, per-topic flows, retries, schedule, alerts.

    report = run_cycle(ctx, CycleOptions(concurrency=4))

The per-topic flow is an explicit table of named steps (`flow.py`) so the AWS Step Functions
definition can mirror it state for state.
"""
