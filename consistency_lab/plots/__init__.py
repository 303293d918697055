from .history_plot import plot_history  # noqa: F401
