"""``Store.verify()``: a read-only comparison of a file with the models (filled in by issue 5)."""
