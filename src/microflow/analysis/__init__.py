"""Analysis of displacement fields: accuracy metrics, dataset evaluation, plots and benchmark reports."""
