"""Operator tools for casework (the ``casework`` console command)."""
