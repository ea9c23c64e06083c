"""`python -m agents worker`: the Faust worker (Faust's own command line)."""

from . import streams, views  # noqa: F401 - registers the agents and pages with the app
from .app import app

if __name__ == "__main__":
    app.main()
