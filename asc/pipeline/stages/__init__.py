"""One module per stage of the chain (asc/pipeline/chain.py); each builds its artifact from explicit arguments and returns."""
