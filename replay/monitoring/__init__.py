"""Replay monitors: fresh samples replayed against candidates on a schedule, evidence kept across checks.

check      one check: sample, replay against the candidates (production's answers the reference), pair
evidence   each candidate's accumulated evidence and its always-valid interval; the alert conditions
lifecycle  the monitor's state, and its alerts firing and resolving once each (dedupe, cooldown)
runner     the due monitors checked, saved through replay's door, the outbox delivered to the sinks
scoring    the answers of `metric:NAME` traffic monitors scored before each tick
"""
