"""The kopf operator: thin handlers that all call one reconcile of a VirtualWaggleClass."""
