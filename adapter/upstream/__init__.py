"""Forwarding to another metrics adapter: Foresight is the registered APIService of a
group-version and answers what it does not serve from the adapter that held it before."""
