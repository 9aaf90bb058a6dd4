"""The control socket (`pilot ctl`) and its client."""
