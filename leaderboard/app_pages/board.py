from leaderboard.views import board

board.render()
