"""The live dashboard: JSON for the page (overview, series, alert timeline) and the page itself."""
