"""Analysis of a parsed dump: metrics, observations, scores, summary and the API response."""
