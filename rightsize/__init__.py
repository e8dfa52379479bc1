"""Right-sizing: the cheapest hardware class, replica count and batching that meet the SLO at the traffic observed."""
