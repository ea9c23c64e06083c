"""`python -m agents worker`: the Faust worker (Faust's own command line)."""

from .app import app

if __name__ == "__main__":
    app.main()
