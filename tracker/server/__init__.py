"""The edge that serves: the dispatcher in front, the runtime it holds, where the click
writer runs, and the probes operators call."""
