"""Pure forecasting library: traces, models, selection and simulation. No network, no adapter."""
