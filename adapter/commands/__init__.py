"""The ``foresight`` commands: serve, demo, backtest, replay, report and preflight; each reads its
options and exits with its own code.
"""
