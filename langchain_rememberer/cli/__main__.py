"""`python -m langchain_rememberer.cli`: the `rememberer` command."""

from langchain_rememberer.cli import main

main()
