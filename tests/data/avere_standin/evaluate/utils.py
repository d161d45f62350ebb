"""Stand-in sibling module (the task files import a helper from it by top-level name)."""


def chunk_path_list(paths, n):
    """Split ``paths`` into ``n`` nearly equal chunks."""
    size = max(1, -(-len(paths) // max(1, n)))
    return [paths[i : i + size] for i in range(0, len(paths), size)]
