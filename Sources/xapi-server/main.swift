// Entry point; wiring arrives with the foundation issue.
