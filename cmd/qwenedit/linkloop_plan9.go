package main

// isLinkLoop reports false: Plan 9 has no symbolic links.
func isLinkLoop(error) bool { return false }
