"""Intake: every reported encounter becomes exactly one case; the person's identity goes
into an encrypted vault and nowhere else."""
