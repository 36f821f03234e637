"""`python -m runtimes.benchmark`: the benchmark's long-standing command name.

The benchmark times Predictors (the SDK's top layer), so it lives in `edgetokens.benchmark`; this
alias is the one module of `runtimes` that reaches up, only when run as a command
(docs/architecture.md).
"""
import sys

if __name__ == "__main__":
    from edgetokens.benchmark import main

    sys.exit(main())
