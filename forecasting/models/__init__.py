"""Forecasting models beyond the baselines: statistical (statsmodels) and learned (scikit-learn)."""
