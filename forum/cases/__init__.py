"""Case threads: communities, cases and discussions, posts, polls, votes and images."""
