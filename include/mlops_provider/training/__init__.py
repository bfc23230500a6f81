"""Training: default scikit-learn trainers, metrics, and the MLflow run that wraps any trainer.

A trainer is any importable `module:function` called as
``trainer(frame, *, target, numeric, categorical, params, seed)`` that returns a fitted
scikit-learn-compatible estimator (``predict``; ``predict_proba`` for probability metrics).
"""
