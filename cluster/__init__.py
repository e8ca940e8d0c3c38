"""The stack as separate hosts on one machine (network namespaces), with a Redis that fails over.

`python -m cluster [--short]`: see cluster/__main__.py and docs/CLUSTER.md.
"""
