"""Stabilization: a plan per case that gates interviews on the person's needs, an
interpreter, a neutral place, an engaged specialist and time (rules 3-5), and holds the
24-hour HHS notice for minors (M1). It never reads certification or prosecution outcomes."""
