"""Operations on the leaderboard that own their transactions: used by the API, the CLI and start-up."""
