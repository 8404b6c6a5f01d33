"""Orchestra: agentic workflows on small, distilled models."""
