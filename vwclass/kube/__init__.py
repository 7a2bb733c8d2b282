"""The thin API layer: server-side apply, listing by label and waiting, over the kubernetes client."""
