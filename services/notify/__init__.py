"""The notify service: e-mail and signed webhooks to specialists, supervisors and officers."""
