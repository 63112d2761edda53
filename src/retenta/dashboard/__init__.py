"""Live workspace activity for the dashboard."""
