"""Jobs: the kinds, the context a job sees, and the runner that claims and executes runs."""
