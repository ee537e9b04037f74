"""``foresight preflight``: what the cluster holds before Foresight is installed, and the install
path that takes no metrics from anyone."""
