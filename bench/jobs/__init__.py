"""Jobs that combine measurements: the main job, compare, and cached measuring."""
