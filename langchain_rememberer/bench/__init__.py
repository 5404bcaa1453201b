"""The demo and the benchmark: TextWorldExpress games, harnesses, policies, statistics.

Not part of the library: `langchain_rememberer` and its adapters never import this package.
It needs the `bench` extra (`textworld-express`, a Java runtime). Entry points are
`rememberer demo` / `rememberer bench` and `protocol.run_bench`.
"""
