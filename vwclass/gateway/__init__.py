"""The check beside a class's gateway nginx: which requests reach which student's workspace."""
