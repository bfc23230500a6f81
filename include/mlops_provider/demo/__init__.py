"""Demo data: a seeded loan-application generator with a drift knob, and a scikit-learn dataset."""
