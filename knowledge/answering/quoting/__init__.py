"""The parts of an extractive answer: what may be quoted, how well it answers, and the passages quoted."""
