"""What the adapter says about itself: its own Prometheus series, hot-path statistics and logs."""
