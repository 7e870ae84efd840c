"""GitHub side of pcgbot: one issue per failure signature, commit statuses, ``/pcgbot`` commands.

Modules: ``client`` (config from the Actions env, PyGithub, retries), ``backend`` (the seam: real
GitHub or ``dryrun`` folder), ``analysis`` (reading analysis.json), ``render`` (titles, bodies,
hidden state), ``sync`` (issue lifecycle), ``status`` (statuses / check runs), ``commands``
(bot commands from issue comments), ``overrides`` (their effects in the store).
"""
