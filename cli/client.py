"""The server's command line uses the notebook client (clients/python, `import actlab`): one
client, installed with the server by `make install` and the Dockerfile."""

from actlab.client import ActlabError, Client

__all__ = ["ActlabError", "Client"]
