from leaderboard.views import compare

compare.render()
