"""IVR flows: YAML written by ops staff → validated flow set → one interpreter
that runs the same way on a live ARI call and in the simulator."""
