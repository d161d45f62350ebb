raise ImportError("the package __init__ must never run: files are loaded by path")
