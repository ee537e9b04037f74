"""Forecasting models beyond the baselines: statistical (Holt-Winters on statsmodels, ARIMA on scipy) and
learned (scikit-learn)."""
