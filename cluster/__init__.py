"""The stack as separate hosts on one machine (network namespaces), with a Redis that fails over.

`python -m cluster [--short]`: see cluster/__main__.py and docs/CLUSTER.md.

It runs the reliability harness's scenarios, callback receiver, archive reads and invariants
over its hosts (it depends on the `reliability` package, shipped with it); what every harness
shares (faults on tracks, reports, the POS simulator's admin calls) is in `harness`.
"""
