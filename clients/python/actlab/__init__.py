"""actlab's client: the HTTP API as Python calls, results as dicts (or pandas frames), and
figures for papers (matplotlib).

    import actlab
    lab = actlab.Client()            # ACTLAB_URL / ACTLAB_API_KEY, or the config file
    actlab.plot_curves(lab, experiment_id).savefig("curves.pdf")
"""

from actlab.client import API_VERSION, ActlabError, Client, Submitted
from actlab.plots import (
    plot_curves,
    plot_functions,
    plot_leaderboard,
    plot_parameters,
    plot_profiles,
    plot_response,
)

__version__ = "0.1.0"
__all__ = ["API_VERSION", "ActlabError", "Client", "Submitted", "plot_curves",
           "plot_functions", "plot_leaderboard", "plot_parameters", "plot_profiles",
           "plot_response"]
