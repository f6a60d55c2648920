"""``python -m omnihub`` runs the command line."""

from omnihub.cli import main

if __name__ == "__main__":
    main()
