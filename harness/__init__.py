"""What the four harnesses share (bench, reliability, cluster, hostile): a stack of real processes
(stack.py, over bin/stack.Stack, and possim.py, the POS simulator's admin calls), faults on tracks
with their windows (faults.py), and the reports, JSON and markdown (report.py)."""
