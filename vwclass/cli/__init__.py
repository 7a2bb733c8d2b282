"""The teacher's command line, `vwclass`: a thin typer layer over the core and the API layer."""
