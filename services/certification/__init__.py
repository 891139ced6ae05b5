"""Certification: Continued Presence, T and U visa workflows and their deadlines, on a
restricted stream (D7, C1-C3, T1-T2, U1-U4, P1)."""
