"""Small shared state (dedup marks, conversation memory, caches, counters): Redis or in-process."""
