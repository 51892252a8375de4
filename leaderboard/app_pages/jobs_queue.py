from leaderboard.views import jobs

jobs.render()
