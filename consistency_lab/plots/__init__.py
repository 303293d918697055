from .history_plot import plot_history  # noqa: F401
from .model_map_plot import plot_model_map, plot_witness  # noqa: F401
from .raft_timeline import plot_raft_timeline  # noqa: F401
