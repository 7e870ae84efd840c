"""The GitHub stage: one issue per failure signature, commit statuses, ``/pcgbot`` commands.

``sync.sync`` files or updates one issue per failure signature of an analysis (``load_analysis``),
``post_status`` sets the commit status, ``handle_event`` answers ``/pcgbot`` commands in issue
comments.  Each talks to a ``Backend``: ``RemoteBackend`` (PyGithub, configured by
``GitHubConfig`` / ``config_from_env``) or ``FolderBackend`` (a dry-run folder).

Modules: ``client`` (config from the Actions env, PyGithub, retries), ``backend`` (the seam: real
GitHub or ``dryrun`` folder), ``analysis`` (reading analysis.json), ``render`` (titles, bodies,
hidden state), ``sync`` (issue lifecycle), ``status`` (statuses / check runs), ``commands``
(bot commands from issue comments), ``overrides`` (their effects in the store), ``author`` (the
note to a culprit's author on its pull request), ``brake`` (caps on new issues, the pause label).
"""

from .analysis import load_analysis
from .backend import Backend, RemoteBackend
from .client import GitHubConfig, config_from_env
from .commands import handle_event
from .dryrun import FolderBackend
from .status import post_status

__all__ = ["load_analysis", "post_status", "handle_event", "Backend", "RemoteBackend",
           "FolderBackend", "GitHubConfig", "config_from_env"]
