"""Status: the case read model, its ``cases.status`` snapshots and the supervisors' dashboard.

It folds ``cases.opened`` and every ``*.events`` topic into one document per case and
publishes the whole snapshot on the compacted ``cases.status``. Of certifications only
Continued Presence is kept: T and U visa events are dropped on arrival (P1).
"""
