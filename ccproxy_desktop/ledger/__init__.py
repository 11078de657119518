"""The usage ledger: one row per request (never prompt text), costs, budgets, metrics and reports."""
