"""`python -m agents worker`: the Faust worker (Faust's own command line)."""

from . import streams  # noqa: F401 - registers the agents with the app
from .app import app

if __name__ == "__main__":
    app.main()
