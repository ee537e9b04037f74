"""The config file's schema and the grammar of its values: durations, query templates and served metric
names.
"""
