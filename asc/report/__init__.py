"""The results table (one row per evaluated model) and every view of it: tables, figures, comparisons, cost views, experiment tracking."""
