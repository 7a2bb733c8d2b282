"""`vwclass dashboard`: a live local web page of a class for its teacher.

model.py turns what was read into the page's snapshot (pure); gather.py reads the class from the
cluster in the background and keeps the latest snapshot; server.py serves the page (page.html) and the
snapshot on a local port. The command itself is vwclass.cli.commands.dashboard.
"""
