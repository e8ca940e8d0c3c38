"""Developer entry points: the run command, the process launcher, a dev token."""
