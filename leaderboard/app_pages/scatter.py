from leaderboard.views import scatter

scatter.render()
