from leaderboard.views import detail

detail.render()
