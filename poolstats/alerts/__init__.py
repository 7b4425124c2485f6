"""Alerts: contact rules, delivery by email and webhook, and the evaluator that runs the
pure rules of ``poolstats.domain.alerts`` against the store every minute (docs/alerts.md)."""
